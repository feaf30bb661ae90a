"""What the ``tether`` logger records of a session: one record per event, at the level
its kind calls for, with the generation in ``record.generation``.

Levels: DEBUG ``Connecting``; INFO ``Connected``, ``ConnectionLost``, ``BackingOff``,
``GaveUp`` after the policy ran out, ``Closed``; WARNING a loss by ping or idle timeout,
a fatal error (``GaveUp`` not ``exhausted``), messages dropped unsent, a failed
rotation (``RotationFailed``; ``Rotated`` is INFO), and from
``tether.delivery`` a sequence gap or unacknowledged messages dropped. The message is
``str(event)``: URLs redacted, errors on one line. A logger that is off costs one
``isEnabledFor`` per event (events are per connection, never per message).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..events import (
    Connecting,
    ConnectionLost,
    Event,
    GaveUp,
    LostReason,
    MessagesDropped,
    RotationFailed,
    SequenceGap,
    UnacknowledgedDropped,
)

__all__ = ["SESSION_LOGGER", "event_level"]

#: The session's logger (a ``NullHandler`` is attached by ``tether/__init__``).
SESSION_LOGGER = logging.getLogger("tether")

_TIMEOUTS = frozenset({LostReason.PING_TIMEOUT, LostReason.IDLE_TIMEOUT})
_WARNINGS = frozenset({MessagesDropped, RotationFailed, SequenceGap, UnacknowledgedDropped})


def event_level(kind: type[Event], fields: Mapping[str, Any]) -> int:
    """The logging level of an event of ``kind`` with ``fields``, before it is built."""
    if kind is Connecting:
        return logging.DEBUG
    if kind is ConnectionLost:
        return logging.WARNING if fields["reason"] in _TIMEOUTS else logging.INFO
    if kind is GaveUp:
        return logging.INFO if fields.get("exhausted") else logging.WARNING
    if kind in _WARNINGS:
        return logging.WARNING
    return logging.INFO
