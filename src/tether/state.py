"""The session state machine: pure, no I/O, no trio.

::

    CONNECTING ──> OPEN ──> CONNECTING (connection lost or superseded, immediate retry)
        │  ^         │
        v  │         v
    BACKING_OFF    CLOSING ──> CLOSED
        │                        ^
        └────────────────────────┘  (policy gave up)

Every state may move to CLOSING (close asked for) and CLOSED (session ended).
"""

from __future__ import annotations

import enum

__all__ = ["State", "InvalidTransition", "check_transition"]


class State(enum.Enum):
    """Where a session is. ``session.state`` reads it; ``events()`` narrates it."""

    CONNECTING = "connecting"
    """A connect attempt (TCP/TLS + WebSocket handshake + ``on_connect``) is under way."""
    OPEN = "open"
    """A generation is open: messages flow."""
    BACKING_OFF = "backing_off"
    """The last attempt failed; waiting out the backoff delay before the next one."""
    CLOSING = "closing"
    """``aclose()`` or cancellation is flushing and sending the Close frame."""
    CLOSED = "closed"
    """Terminal. Sends and receives raise ``SessionClosed`` (or ``ReconnectFailed``)."""


class InvalidTransition(RuntimeError):
    """A bug in the session shell: it tried a transition the table forbids."""


_ALLOWED: dict[State, frozenset[State]] = {
    State.CONNECTING: frozenset({State.OPEN, State.BACKING_OFF, State.CONNECTING}),
    State.OPEN: frozenset({State.CONNECTING, State.BACKING_OFF}),
    State.BACKING_OFF: frozenset({State.CONNECTING}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}
_ALWAYS_ALLOWED = frozenset({State.CLOSING, State.CLOSED})


def check_transition(current: State, target: State) -> State:
    """Return ``target`` if ``current -> target`` is allowed, else raise InvalidTransition."""
    if current is State.CLOSED:
        raise InvalidTransition(f"{current.name} is terminal (asked for {target.name})")
    if target in _ALWAYS_ALLOWED and not (current is State.CLOSING and target is State.CLOSING):
        return target
    if target not in _ALLOWED[current]:
        raise InvalidTransition(f"{current.name} -> {target.name} is not allowed")
    return target
