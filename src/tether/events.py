"""Session events: small frozen records of what happened, for logs, metrics and UIs.

Subscribe with ``session.events()``; each event has ``generation`` (the connection
generation it concerns) and ``at`` (``trio.current_time()`` when it happened, seconds).

Ordering guarantees, per session:

* ``Connecting`` and ``Connected`` carry the generation being opened.
* For one open generation, ``ConnectionLost`` is emitted exactly once, before the next
  ``Connecting``.
* An attempt that never opened emits ``BackingOff`` (with its error), not
  ``ConnectionLost``.
* A close the user asked for emits ``Closed``, not ``ConnectionLost``.
* ``GaveUp`` (the policy gave up) is followed by ``Closed``; ``Closed`` is always last.
"""

from __future__ import annotations

import enum

import attrs

from ._describe import describe_error

__all__ = [
    "BackingOff",
    "Closed",
    "Connected",
    "Connecting",
    "ConnectionLost",
    "Event",
    "GaveUp",
    "LostReason",
    "MessagesDropped",
]


class LostReason(enum.Enum):
    """Why an open connection ended (``ConnectionLost.reason``)."""

    PEER_CLOSED = "peer_closed"
    """The server sent a Close frame; ``code`` holds its close code."""
    TRANSPORT_ERROR = "transport_error"
    """The TCP/TLS stream broke or ended without a Close frame (close code 1006)."""
    PING_TIMEOUT = "ping_timeout"
    """No pong within ``ping_timeout`` of a ping: a dead or half-open link."""
    IDLE_TIMEOUT = "idle_timeout"
    """No text or binary message for ``idle_timeout`` seconds."""
    SUPERSEDED = "superseded"
    """``session.reconnect()`` replaced this connection."""
    PROTOCOL_ERROR = "protocol_error"
    """The peer broke RFC 6455 (retried), or sent a message over ``max_message_size``
    (code 1009: by default the session ends, the server would send it again)."""


@attrs.frozen(kw_only=True)
class Event:
    """Base of all session events.

    ``str(event)`` is one line for people (what ``tether connect`` prints and the
    ``tether`` logger records): ``connected to wss://feed.example/v1 (generation 2)``;
    URLs are redacted, an error is ``kind: message`` cut at 80 characters. ``repr`` is
    complete.
    """

    generation: int
    at: float


@attrs.frozen(kw_only=True)
class Connecting(Event):
    """A connect attempt to ``url`` starts; ``attempt`` counts from 1 within this outage.

    With a ``url`` callable (``connect(url=async_fn)``) it is emitted once the callable
    returned this attempt's URL; an attempt whose call raised, returned a bad URL or ran
    past ``connect_timeout`` has no ``Connecting`` (its ``BackingOff`` or ``GaveUp``
    names it).

    ``url`` is shown redacted (:func:`tether.policy.redact_url`): userinfo as ``***@``,
    credential-like query values (``token``, ``api_key``, ...) as ``***``.
    """

    attempt: int
    url: str

    def __str__(self) -> str:
        return f"connecting to {self.url} (generation {self.generation}, attempt {self.attempt})"


@attrs.frozen(kw_only=True)
class Connected(Event):
    """Generation ``generation`` is open on ``url`` (handshake and ``on_connect`` done);
    ``url`` is redacted as in :class:`Connecting`."""

    url: str
    attempt: int

    def __str__(self) -> str:
        return f"connected to {self.url} (generation {self.generation})"


@attrs.frozen(kw_only=True)
class ConnectionLost(Event):
    """An open generation ended. ``code`` is the close code when one was exchanged."""

    reason: LostReason
    code: int | None
    detail: str

    def __str__(self) -> str:
        text = f"connection lost (generation {self.generation}): {self.reason.value}"
        if self.code is not None:
            text += f", code {self.code}"
        if self.detail:
            text += f": {' '.join(self.detail.split())}"
        return text


@attrs.frozen(kw_only=True)
class BackingOff(Event):
    """Waiting ``delay`` seconds before attempt ``attempt``; ``error`` ended the last try.

    ``error`` carries no traceback: its ``__traceback__``, and those of its
    ``__cause__``/``__context__`` chain, are ``None``, so a subscriber that keeps events
    keeps no frames alive (a ``HandshakeRejected`` keeps at most 4 KiB of its body).

    ``retry_after``: the seconds the server asked for with ``Retry-After``, as it asked
    (``None`` when it did not); above ``Backoff.retry_after_max`` it is larger than
    ``delay``: the server asked for longer than the session waits.
    """

    attempt: int
    delay: float
    error: BaseException | None
    retry_after: float | None = None

    def __str__(self) -> str:
        return (
            f"backing off {self.delay:.2f} s before attempt {self.attempt}: "
            f"{describe_error(self.error)}"
        )


@attrs.frozen(kw_only=True)
class GaveUp(Event):
    """The retry policy gave up, or met a fatal error; the session ends with
    ``ReconnectFailed`` (or the fatal ``HandshakeRejected``).

    ``generation`` is that of the connect attempt whose ``error`` ended the session: an
    attempt that never opened has the number it would have had (the number of its
    ``Connecting`` and of the ``BackingOff`` events before it: the last open
    generation + 1); an open generation whose loss was fatal (a peer Close 1008, say)
    has its own, that of its ``ConnectionLost``.

    ``error`` is the error the session ends with (``ReconnectFailed.__cause__``, or the
    ``HandshakeRejected`` raised). Unlike ``BackingOff.error`` it keeps its traceback,
    so that it can be debugged (there is one ``GaveUp`` per session at most).

    ``exhausted``: ``True`` when the retry policy gave up (``max_attempts`` or
    ``give_up_after`` ran out, the error itself retryable); ``False`` (the default) when
    the error was fatal (``retry_if`` refused it), whichever attempt it ended.
    """

    error: BaseException
    exhausted: bool = False

    def __str__(self) -> str:
        return f"{'gave up' if self.exhausted else 'failed'}: {describe_error(self.error)}"


@attrs.frozen(kw_only=True)
class Closed(Event):
    """The session ended. ``code`` is the close code sent, ``None`` if none was open."""

    code: int | None
    reason: str

    def __str__(self) -> str:
        return f"closed ({'no connection open' if self.code is None else f'code {self.code}'})"


@attrs.frozen(kw_only=True)
class MessagesDropped(Event):
    """``count`` buffered outbound messages were discarded without being written: evicted
    under ``Overflow.DROP_OLDEST``, or still unsent when the session ended."""

    count: int

    def __str__(self) -> str:
        return f"{self.count} buffered message(s) dropped unsent"
