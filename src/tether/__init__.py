"""trio-tether: a Trio WebSocket session that survives any number of connections.

::

    async with tether.connect("wss://feed.example/v1", on_connect=subscribe) as session:
        async for message in session:
            ...

See docs/design.md for the model: layers, generations, the retry-or-fail table, the
guarantees.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import events
from .codec import Codec, JsonCodec
from .config import Backoff, Config, Overflow
from .connection import Opener, TcpOpener
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
    SendBufferFull,
    SessionClosed,
    TetherError,
)
from .session import Connection, EventStream, Session, connect
from .state import State
from .statistics import Statistics

try:
    __version__ = version("trio-tether")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ApplicationError",
    "Backoff",
    "Codec",
    "ConfigError",
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
    "ReconnectFailed",
    "SendBufferFull",
    "Session",
    "SessionClosed",
    "State",
    "Statistics",
    "TcpOpener",
    "TetherError",
    "__version__",
    "connect",
    "events",
]
