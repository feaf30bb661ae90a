"""Shared test helpers: an event recorder usable as ``connect(on_event=...)``,
in-memory server handlers, and a wsproto server to check frames against.

The recorder is the public :class:`tether.testing.pytest_plugin.EventRecorder`;
``EventLog`` is its name in this suite.
"""

from __future__ import annotations

import wsproto
from wsproto.events import AcceptConnection, Request

from tether.testing import ServerConnection
from tether.testing.pytest_plugin import EventRecorder

EventLog = EventRecorder

__all__ = ["EventLog", "EventRecorder", "silent", "wsproto_server"]


async def silent(conn: ServerConnection) -> None:
    """A server handler that reads everything (its record keeps it) and never answers."""
    while True:
        await conn.get_message()


def wsproto_server() -> wsproto.WSConnection:
    """A wsproto server past the opening handshake: an independent implementation of
    RFC 6455 to parse tether's frames and to produce frames for tether's parser."""
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    assert any(isinstance(e, Request) for e in server.events())
    server.send(AcceptConnection())
    return server
