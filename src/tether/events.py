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
* A rotation (``Session.rotate()``, ``Config.max_connection_age``) emits ``Connecting``
  and ``Connected`` for the new generation while the old one still serves, then
  ``Rotated``; the old generation has no ``ConnectionLost`` (it was not lost).
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
    "Rotated",
    "RotationFailed",
    "SequenceGap",
    "UnacknowledgedDropped",
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
    """``session.reconnect()`` replaced this connection (a rotation's old connection
    ends this way too, but reports no ``ConnectionLost``: ``Rotated`` says it)."""
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
    ``url`` is where it landed (after redirects), redacted as in :class:`Connecting`;
    ``attempt`` is the attempt of this outage that succeeded (from 1)."""

    url: str
    attempt: int

    def __str__(self) -> str:
        return f"connected to {self.url} (generation {self.generation})"


@attrs.frozen(kw_only=True)
class ConnectionLost(Event):
    """An open generation ended, exactly once per open generation.

    ``reason`` is why (:class:`LostReason`); ``code`` the close code when one was
    exchanged (the server's for ``PEER_CLOSED``, 1006 for a transport error, the one we
    failed the connection with for ``PROTOCOL_ERROR``), else ``None`` (timeouts,
    ``SUPERSEDED``); ``detail`` the human part: the
    server's close reason, the transport error, the timeout that fired, or the reason
    given to ``reconnect()``."""

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
    """The session ended; always its last event. ``code`` is the close code tether
    sent (1000 from ``aclose()``, 1001 on cancellation, 1011 when the body raised),
    ``None`` if no connection was open to send one on; ``reason`` is the reason given to
    ``aclose()`` (``""`` by default), or what ended the session when the user did not
    close it (the text of its ``SessionClosed`` or ``ReconnectFailed``)."""

    code: int | None
    reason: str

    def __str__(self) -> str:
        return f"closed ({'no connection open' if self.code is None else f'code {self.code}'})"


@attrs.frozen(kw_only=True)
class Rotated(Event):
    """Make-before-break: generation ``generation`` (just ``Connected``) took over from
    ``previous``, which closes behind it (``Config.supersede_close_code``) after its
    writes under way; sends go to ``generation`` from now on. ``reason``:
    ``"rotate()"`` or ``"max_connection_age"``."""

    previous: int
    reason: str

    def __str__(self) -> str:
        return (
            f"rotated ({self.reason}): generation {self.generation} "
            f"took over from generation {self.previous}"
        )


@attrs.frozen(kw_only=True)
class RotationFailed(Event):
    """A rotation's new connection could not be opened (``error``, without its
    traceback, as in :class:`BackingOff`; ``reason`` as in :class:`Rotated`);
    generation ``generation`` serves on, nothing lost. A ``max_connection_age``
    rotation is tried again ``Backoff.maximum`` seconds later; ``Session.rotate()``
    raises :class:`tether.RotationFailedError`."""

    reason: str
    error: BaseException

    def __str__(self) -> str:
        return (
            f"rotation failed ({self.reason}), generation {self.generation} serves on: "
            f"{describe_error(self.error)}"
        )


@attrs.frozen(kw_only=True)
class MessagesDropped(Event):
    """``count`` buffered outbound messages were discarded without being written: evicted
    under ``Overflow.DROP_OLDEST``, or still unsent when the session ended."""

    count: int

    def __str__(self) -> str:
        return f"{self.count} buffered message(s) dropped unsent"


@attrs.frozen(kw_only=True)
class SequenceGap(Event):
    """The server's sequence numbers skipped: the message numbered ``received`` came when
    ``expected`` was next, so ``missing`` (``received - expected``) messages never
    arrived (``tether.delivery``; the message itself is delivered). The dialect's
    ``resume`` names the last number seen, so a server that keeps its messages fills
    such gaps itself; one that does not (or lost them) shows here."""

    expected: int
    received: int
    missing: int

    def __str__(self) -> str:
        return (
            f"sequence gap (generation {self.generation}): expected {self.expected}, "
            f"got {self.received} ({self.missing} missing)"
        )


@attrs.frozen(kw_only=True)
class UnacknowledgedDropped(Event):
    """``count`` messages that were written but not yet acknowledged were evicted from
    the delivery ledger under ``Overflow.DROP_OLDEST`` (``tether.delivery``): they will
    not be sent again, and whoever waited for their acknowledgement got
    :class:`tether.MessageDropped`."""

    count: int

    def __str__(self) -> str:
        return f"{self.count} unacknowledged message(s) dropped: no longer resent"
