"""The session: one WebSocket session over any number of connection generations.

:func:`connect` and :class:`Session` are the public face (re-exported as
``tether.connect`` / ``tether.Session``); :class:`Connection` is the handle
``on_connect`` receives; :class:`EventStream` is what ``Session.events()`` returns.
The machinery beneath is private to this package; :func:`single_error` (how a Trio
exception group becomes the one error a public call raises) is shared with the layer
above (``tether.delivery``).
"""

from ._connect import connect
from ._event_stream import EventStream
from ._groups import single_error
from ._handle import Connection
from ._session import Session

__all__ = ["Connection", "EventStream", "Session", "connect", "single_error"]
