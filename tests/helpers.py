"""Shared test helpers: an event recorder usable as ``connect(on_event=...)``.

The recorder is the public :class:`tether.testing.pytest_plugin.EventRecorder`;
``EventLog`` is its name in this suite.
"""

from __future__ import annotations

from tether.testing.pytest_plugin import EventRecorder

EventLog = EventRecorder

__all__ = ["EventLog", "EventRecorder"]
