"""Pure decisions of the session: retry or fail, backoff delays, close codes, Retry-After.

Nothing here does I/O or reads a clock; the Trio shell (``tether.session``) passes in
times and random generators. Every rule is unit-tested without an event loop.
"""

from __future__ import annotations

import email.utils
import math
import random
import ssl
from collections.abc import Mapping

from ..config import Backoff
from ..events import LostReason
from ..exceptions import ConfigError, ConnectionLostError, HandshakeRejected, SessionClosed

__all__ = [
    "COME_BACK_LATER_CLOSE_CODES",
    "FATAL_CLOSE_CODES",
    "RETRYABLE_HANDSHAKE_STATUSES",
    "backoff_delay",
    "default_retry_if",
    "retry_after",
]

#: Peer close codes that end the session by default (RFC 6455 section 7.4.1): the peer
#: says *we* broke the protocol (1002), sent a type it cannot take (1003), invalid data
#: (1007), violated its policy (1008), sent a message too big (1009) or lacked an
#: extension it requires (1010). Reconnecting would repeat the offence.
FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})

#: Peer close codes that mean "this server is restarting / overloaded, come back later"
#: (1012 Service Restart, 1013 Try Again Later; IANA WebSocket Close Code Number
#: Registry). The first retry after them waits a backoff step instead of being
#: immediate, so that a fleet of clients does not hammer a restarting server in step.
COME_BACK_LATER_CLOSE_CODES = frozenset({1012, 1013})

#: HTTP statuses of a rejected upgrade that are worth retrying: request timeout, too
#: many requests, and every 5xx (server side, usually transient).
RETRYABLE_HANDSHAKE_STATUSES = frozenset({408, 429})


def default_retry_if(error: BaseException) -> bool:
    """The retry-or-fail table of docs/design.md ("Retry or fail"). ``True``: try again.

    ========================================================  =======
    cause                                                     default
    ========================================================  =======
    refused, reset, unreachable, DNS failure, timeouts        retry
    connection lost: peer close 1000/1001/1006/1011-1014,
      ping/idle timeout, transport error, superseded          retry
    handshake 5xx, 408, 429                                   retry
    handshake other 4xx (401, 403, 404 ...)                   fail
    TLS certificate verification error, bad URL or scheme     fail
    peer close 1002/1003/1007/1008/1009/1010                  fail
    anything else (a bug, an exception from ``on_connect``)   fail
    ========================================================  =======
    """
    if isinstance(error, HandshakeRejected):
        return error.status_code >= 500 or error.status_code in RETRYABLE_HANDSHAKE_STATUSES
    if isinstance(error, (SessionClosed, ConfigError)):
        return False
    if isinstance(error, ConnectionLostError):
        return not (error.reason is LostReason.PEER_CLOSED and error.code in FATAL_CLOSE_CODES)
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    return isinstance(error, OSError)


def retry_after(error: BaseException, *, now_wall: float) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` on a 429 or 503.

    Accepts delta-seconds (``Retry-After: 7``) and an HTTP-date (RFC 9110 section
    10.2.3), the latter relative to ``now_wall`` (Unix time, seconds). Returns ``None``
    when the error is not such a rejection or the header is absent or malformed;
    a date in the past gives 0.
    """
    if not isinstance(error, HandshakeRejected) or error.status_code not in (429, 503):
        return None
    value = _header(error.headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def backoff_step(backoff: Backoff, step: int) -> float:
    """Upper bound of the delay of backoff step ``step`` (1-based), in seconds:
    ``min(maximum, initial * multiplier ** (step - 1))``."""
    if step < 1:
        return 0.0
    exponent = step - 1
    # Guard the power against overflow for long outages: past the cap, it is the cap.
    if (
        backoff.multiplier > 1
        and exponent > math.log(backoff.maximum / backoff.initial + 1, backoff.multiplier) + 1
    ):
        return backoff.maximum
    return float(min(backoff.maximum, backoff.initial * backoff.multiplier**exponent))


def backoff_delay(backoff: Backoff, attempt: int, rng: random.Random) -> float:
    """Delay in seconds before attempt ``attempt`` (1-based) of an outage.

    Attempt 1 starts at once when ``backoff.first_immediate``; otherwise it waits step 1.
    Later attempts wait step ``attempt - 1`` (or ``attempt`` without ``first_immediate``).
    With ``jitter`` the delay is drawn uniformly from ``[0, step]`` ("full jitter", AWS
    Architecture Blog, *Exponential Backoff And Jitter*, 2015) using ``rng``; pass a
    seeded ``random.Random`` for a repeatable schedule.
    """
    step = attempt - 1 if backoff.first_immediate else attempt
    cap = backoff_step(backoff, step)
    if cap == 0.0 or not backoff.jitter:
        return cap
    return rng.uniform(0.0, cap)


def must_wait_before_retry(error: BaseException) -> bool:
    """True when the error says the server wants time: a peer close with 1012 or 1013.
    Such a loss skips ``Backoff.first_immediate``."""
    return (
        isinstance(error, ConnectionLostError)
        and error.reason is LostReason.PEER_CLOSED
        and error.code in COME_BACK_LATER_CLOSE_CODES
    )
