"""Text for the ``tether`` command: errors and session events on one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tether._describe import describe_error, error_kind
from tether.events import (
    Event,
    GaveUp,
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

#: Bytes of a rejected handshake's body quoted in a line.
MAX_BODY_EXCERPT = 200
#: Statuses that say "you may not", not "no WebSocket here": authentication.
_AUTHENTICATION_STATUSES = frozenset({401, 403, 407})


def rejection_text(error: HandshakeRejected) -> str:
    """One line for a refused upgrade: ``not a WebSocket endpoint: HTTP 404: <body>``
    for an answer that says there is no WebSocket here (a 2xx, a 3xx not followed, any 4xx but
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


def ending_word(gave_up: GaveUp | None) -> str:
    """``gave up`` when the retry policy gave up after its attempts; ``failed`` for a
    fatal error (or no ``GaveUp`` event)."""
    return "gave up" if gave_up is not None and gave_up.exhausted else "failed"


def status_line(event: Event) -> str:
    """A human status line for a session event (``tether connect`` prints these on
    stderr): ``str(event)`` (:meth:`tether.events.Event.__str__`)."""
    return str(event)
