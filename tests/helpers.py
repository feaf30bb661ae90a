"""Shared test helpers: an event recorder usable as ``connect(on_event=...)``, and
in-memory server handlers.

The recorder is the public :class:`tether.testing.pytest_plugin.EventRecorder`;
``EventLog`` is its name in this suite.
"""

from __future__ import annotations

from tether.testing import ServerConnection
from tether.testing.pytest_plugin import EventRecorder

EventLog = EventRecorder

__all__ = ["EventLog", "EventRecorder", "silent"]


async def silent(conn: ServerConnection) -> None:
    """A server handler that reads everything (its record keeps it) and never answers."""
    while True:
        await conn.get_message()
