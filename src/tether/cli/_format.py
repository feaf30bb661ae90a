"""Text for the ``tether`` command: errors and session events on one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tether.events import (
    BackingOff,
    Closed,
    Connected,
    Connecting,
    ConnectionLost,
    Event,
    GaveUp,
    MessagesDropped,
)
from tether.exceptions import HandshakeRejected
from tether.policy import RETRYABLE_HANDSHAKE_STATUSES, redact_url

#: Colour of each session event in terminal output (rich styles), shared by the demo,
#: its live view and ``tether connect``'s status line.
EVENT_STYLES: Mapping[str, str] = {
    "Connecting": "cyan",
    "Connected": "green",
    "ConnectionLost": "yellow",
    "BackingOff": "magenta",
    "GaveUp": "bold red",
    "Closed": "blue",
    "MessagesDropped": "red",
}


__all__ = [
    "describe_error",
    "ending_word",
    "error_kind",
    "header_names",
    "redacted_urls",
    "rejection_text",
    "status_line",
]

#: Longest error message quoted in a line (characters).
_MAX_MESSAGE = 80
#: Bytes of a rejected handshake's body quoted in a line.
MAX_BODY_EXCERPT = 200
#: Statuses that say "you may not", not "no WebSocket here": authentication.
_AUTHENTICATION_STATUSES = frozenset({401, 403, 407})


def _innermost(error: BaseException) -> BaseException:
    """Unwrap a bare ``OSError`` that only wraps others (trio's "all attempts to connect
    failed" carries the real errors in an exception group as its ``__cause__``)."""
    for _ in range(8):
        if type(error) is not OSError or error.__cause__ is None:
            break
        cause = error.__cause__
        nested = getattr(cause, "exceptions", None)
        error = nested[0] if nested else cause
    return error


def error_kind(error: BaseException | None) -> str:
    """A short label for an error, for counting: ``HandshakeRejected(503)``,
    ``ConnectionRefusedError``."""
    if error is None:
        return "-"
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"{type(error).__name__}({status})"
    return type(_innermost(error)).__name__


def describe_error(error: BaseException | None) -> str:
    """``kind: message`` of an error, on one line, at most about 100 characters."""
    if error is None:
        return "-"
    message = " ".join(str(_innermost(error)).split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{error_kind(error)}: {message}" if message else error_kind(error)


def rejection_text(error: HandshakeRejected) -> str:
    """One line for a refused upgrade: ``not a WebSocket endpoint: HTTP 404: <body>``
    for an answer that says there is no WebSocket here (a 2xx, a redirect, any 4xx but
    401, 403, 407, 408 and 429), ``handshake rejected: HTTP 503: <body>`` otherwise
    (a retryable status, or authentication). The body is quoted on one line, at most
    :data:`MAX_BODY_EXCERPT` bytes, then ``… (body cut at 200 of 4,096 bytes)`` when it
    was cut (``of more than 4,096 bytes`` when the session kept only that much)."""
    status = error.status_code
    retryable = status >= 500 or status in RETRYABLE_HANDSHAKE_STATUSES
    if retryable or status in _AUTHENTICATION_STATUSES:
        text = f"handshake rejected: HTTP {status}"
    else:
        text = f"not a WebSocket endpoint: HTTP {status}"
    body = error.body
    excerpt = " ".join(body[:MAX_BODY_EXCERPT].decode("utf-8", errors="replace").split())
    if not excerpt:
        return text
    text += f": {excerpt}"
    if len(body) > MAX_BODY_EXCERPT or error.body_truncated:
        total = f"more than {len(body):,}" if error.body_truncated else f"{len(body):,}"
        text += f"… (body cut at {min(len(body), MAX_BODY_EXCERPT):,} of {total} bytes)"
    return text


def redacted_urls(urls: Iterable[str]) -> str:
    """The ``repr`` of a tuple of URLs, each redacted (:func:`tether.policy.redact_url`)."""
    return repr(tuple(redact_url(url) for url in urls))


def redacted_proxy(proxy: str | None) -> str:
    """The ``repr`` of a ``proxy=`` value, a URL redacted (no userinfo)."""
    return repr(proxy if proxy is None else redact_url(proxy, loose=True))


def header_names(headers: Mapping[str, str]) -> str:
    """The ``repr`` of headers without their values (a value is often a credential):
    ``{'Authorization': '***'}``."""
    return repr(dict.fromkeys(headers, "***"))


def _lost(event: ConnectionLost) -> str:
    text = f"connection lost (generation {event.generation}): {event.reason.value}"
    if event.code is not None:
        text += f", code {event.code}"
    if event.detail:
        text += f": {' '.join(event.detail.split())}"
    return text


def ending_word(gave_up: GaveUp | None) -> str:
    """``gave up`` when the retry policy gave up after its attempts; ``failed`` for a
    fatal error (or no ``GaveUp`` event)."""
    return "gave up" if gave_up is not None and gave_up.exhausted else "failed"


def status_line(event: Event) -> str:
    """A human status line for a session event (``tether connect`` prints these on
    stderr): ``connecting to ws://... (generation 2, attempt 1)``, ``backing off 0.42 s
    before attempt 3: ConnectionRefusedError: ...``, ``gave up: ...`` (the retry policy
    gave up) or ``failed: ...`` (a fatal error). URLs are redacted."""
    if isinstance(event, Connecting):
        return f"connecting to {event.url} (generation {event.generation}, attempt {event.attempt})"
    if isinstance(event, Connected):
        return f"connected to {event.url} (generation {event.generation})"
    if isinstance(event, ConnectionLost):
        return _lost(event)
    if isinstance(event, BackingOff):
        return (
            f"backing off {event.delay:.2f} s before attempt {event.attempt}: "
            f"{describe_error(event.error)}"
        )
    if isinstance(event, GaveUp):
        return f"{ending_word(event)}: {describe_error(event.error)}"
    if isinstance(event, Closed):
        code = "no connection open" if event.code is None else f"code {event.code}"
        return f"closed ({code})"
    if isinstance(event, MessagesDropped):
        return f"{event.count} buffered message(s) dropped unsent"
    return repr(event)
