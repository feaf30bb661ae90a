"""The delivery layer: nothing lost end to end over a :class:`tether.Session`.

A :class:`Dialect` says, for one server's protocol, which outbound messages carry an
id and how the server acknowledges them, where inbound messages carry a sequence
number, how replies name their request, what a heartbeat and its reply look like,
and what to send to resume;
:func:`connect` opens a session with a :class:`Delivery` on it that does the
bookkeeping::

    async with tether.delivery.connect(url, dialect=dialect, codec=tether.JsonCodec()) as d:
        await d.send({"id": 1, "text": "hello"}, wait_ack=True)   # acknowledged
        reply = await d.request({"id": 2, "op": "time"}, timeout=5)
        async for message in d:                                     # once each, in order
            ...

See docs/delivery.md.
"""

from ._connect import connect
from ._delivery import DEFAULT_REQUEST_TIMEOUT, Delivery, DeliveryStatistics
from ._dialect import Dialect, MessageId
from ._heartbeat import DEFAULT_HEARTBEAT_TIMEOUT
from ._json import json_dialect
from ._jsonrpc import jsonrpc_dialect

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "Delivery",
    "DeliveryStatistics",
    "Dialect",
    "MessageId",
    "connect",
    "json_dialect",
    "jsonrpc_dialect",
]
