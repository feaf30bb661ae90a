"""trio-tether: a Trio WebSocket session that survives any number of connections.

::

    async with tether.connect("wss://feed.example/v1", on_connect=subscribe) as session:
        async for message in session:
            ...

See docs/design.md for the model: layers, generations, the retry-or-fail table, the
guarantees.
"""

from __future__ import annotations

import logging

from . import events
from ._version import __version__
from .codec import Codec, JsonCodec
from .config import Backoff, Compression, Config, Overflow, Rate
from .connection import Opener, TcpOpener, UnixOpener
from .events import LostReason
from .exceptions import (
    ApplicationError,
    ConfigError,
    ConnectionLostError,
    DecodeError,
    HandshakeRejected,
    IncompatibleServer,
    MessageDropped,
    ProxyAuthenticationError,
    ProxyError,
    ReconnectFailed,
    RedirectError,
    RequestTimeout,
    RotationFailedError,
    SendBufferFull,
    SessionClosed,
    TetherError,
)
from .session import Connection, EventStream, Session, connect
from .state import State
from .statistics import Statistics

# A library logs, the application decides where to: nothing is printed unless it
# configures logging ("tether" for the session, see docs/reference.md).
logging.getLogger("tether").addHandler(logging.NullHandler())

__all__ = [
    "ApplicationError",
    "Backoff",
    "Codec",
    "ConfigError",
    "Compression",
    "Config",
    "Connection",
    "ConnectionLostError",
    "DecodeError",
    "EventStream",
    "HandshakeRejected",
    "IncompatibleServer",
    "JsonCodec",
    "LostReason",
    "MessageDropped",
    "Opener",
    "Overflow",
    "ProxyAuthenticationError",
    "ProxyError",
    "Rate",
    "ReconnectFailed",
    "RedirectError",
    "RequestTimeout",
    "RotationFailedError",
    "SendBufferFull",
    "Session",
    "SessionClosed",
    "State",
    "Statistics",
    "TcpOpener",
    "TetherError",
    "UnixOpener",
    "__version__",
    "connect",
    "events",
]
