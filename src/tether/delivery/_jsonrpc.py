"""A JSON-RPC 2.0 dialect (https://www.jsonrpc.org/specification): requests by id,
for messages decoded by :class:`tether.JsonCodec`. Pure: no I/O, no trio.

Client to server: a request ``{"jsonrpc": "2.0", "method": ..., "params": ..., "id":
id}`` (an id a ``str`` or an ``int``) waits for its response and is sent again after a
reconnect until it comes; a notification (no ``"id"``) is sent once.

Server to client: a response ``{"jsonrpc": "2.0", "result": ..., "id": id}`` or
``{"jsonrpc": "2.0", "error": {"code": ..., "message": ...}, "id": id}`` answers the
request with that id (``Delivery.request`` returns it; a response no request waits
for goes to ``receive()``). Everything else (the server's own requests and
notifications, a batch, a response with ``"id": null``) goes to ``receive()``.
JSON-RPC has no acknowledgement, sequence numbers, resume or heartbeat.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from ._dialect import Dialect

__all__ = ["jsonrpc_dialect"]


def _id_of(message: Any) -> Hashable | None:
    value = message.get("id")
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    return None


def _request_id(message: Any) -> Hashable | None:
    if isinstance(message, dict) and "method" in message:
        return _id_of(message)
    return None


def _response_to(message: Any) -> Hashable | None:
    if (
        isinstance(message, dict)
        and "method" not in message
        and ("result" in message or "error" in message)
    ):
        return _id_of(message)
    return None


def jsonrpc_dialect() -> Dialect:
    """The JSON-RPC 2.0 dialect (see the module docstring): ``request()`` a message with
    ``"method"`` and an ``"id"`` (a ``str`` or an ``int``, not a ``bool``) and get the
    response with that id, a ``dict`` with ``"result"`` or ``"error"`` (an error
    response is returned, not raised: look at ``reply.get("error")``). A request still
    unanswered when its connection drops is sent again on the next one, so a server
    may see it twice: make such methods idempotent, or have the server drop ids it has
    answered."""
    return Dialect(message_id=_request_id, reply_to=_response_to)
