"""Pure decisions of the session: retry or fail, backoff delays, close codes, Retry-After.

Nothing here does I/O or reads a clock; the Trio shell (``tether.session``) passes in
times and random generators. Every rule is unit-tested without an event loop.
"""

from __future__ import annotations

import datetime
import math
import random
import re
import ssl
from collections.abc import Mapping

from ..config import Backoff
from ..events import LostReason
from ..exceptions import (
    ApplicationError,
    ConfigError,
    ConnectionLostError,
    HandshakeRejected,
    IncompatibleServer,
    ProxyAuthenticationError,
    ProxyError,
    RedirectError,
    SessionClosed,
)

__all__ = [
    "COME_BACK_LATER_CLOSE_CODES",
    "FATAL_CLOSE_CODES",
    "FATAL_SOCKS_REPLIES",
    "MESSAGE_TOO_BIG",
    "RETRYABLE_HANDSHAKE_STATUSES",
    "backoff_delay",
    "default_retry_if",
    "next_delay",
    "retry_after",
]

#: Peer close codes that end the session by default (RFC 6455 section 7.4.1): the peer
#: says *we* broke the protocol (1002), sent a type it cannot take (1003), invalid data
#: (1007), violated its policy (1008), sent a message too big (1009) or lacked an
#: extension it requires (1010). Reconnecting would repeat the offence.
FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})

#: The close code we send for an inbound message over ``Config.max_message_size``
#: (``LostReason.PROTOCOL_ERROR``): the server would send the same message again.
MESSAGE_TOO_BIG = 1009

#: Peer close codes that mean "this server is restarting / overloaded, come back later"
#: (1012 Service Restart, 1013 Try Again Later; IANA WebSocket Close Code Number
#: Registry). The first retry after them waits a backoff step instead of being
#: immediate, so that a fleet of clients does not hammer a restarting server in step.
COME_BACK_LATER_CLOSE_CODES = frozenset({1012, 1013})

#: An IMF-fixdate (RFC 9110 section 5.6.7): ``Sun, 06 Nov 1994 08:49:37 GMT``.
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: SOCKS reply codes that will not change on another attempt: SOCKS5 (RFC 1928 section
#: 6) 2 connection not allowed by the ruleset, 7 command not supported, 8 address type
#: not supported; SOCKS4 92 and 93 (the proxy could not confirm, or refused, our user id).
FATAL_SOCKS_REPLIES: Mapping[str, frozenset[int]] = {
    "socks5": frozenset({2, 7, 8}),
    "socks4": frozenset({92, 93}),
}

#: HTTP statuses of a rejected upgrade that are worth retrying: request timeout, too
#: many requests, and every 5xx (server side, usually transient).
RETRYABLE_HANDSHAKE_STATUSES = frozenset({408, 429})


def default_retry_if(error: BaseException) -> bool:
    """The retry-or-fail table of docs/design.md ("Retry or fail"). ``True``: try again.

    Retried (``True``):

    * refused, reset, unreachable, DNS failure, ``connect_timeout``;
    * connection lost: peer close 1000/1001/1006/1011-1014, ping or idle timeout,
      transport error, a server that broke the protocol (1002, 1007), superseded;
    * handshake 5xx, 408, 429;
    * an invalid upgrade answer (``HandshakeFailed``), a TLS handshake error other than
      the two below;
    * proxy down, reset, broke off, 5xx, other SOCKS failures.

    Fatal (``False``):

    * handshake other 4xx (401, 403, 404 ...), a 3xx not followed;
    * ``RedirectError``: a redirect not followed (``wss://`` to ``ws://``, a loop, more
      than 10 hops, a bad ``Location``);
    * TLS certificate verification error, bad URL or scheme;
    * ``IncompatibleServer``: a 101 that selected an extension or subprotocol we did not
      offer; ``wss://`` to a server that does not speak TLS;
    * proxy 407 or SOCKS authentication failure, other proxy 4xx, SOCKS5 reply 2/7/8,
      SOCKS4 reply 92/93;
    * peer close 1002/1003/1007/1008/1009/1010;
    * a message over ``max_message_size`` (our 1009);
    * ``ApplicationError``: ``on_connect``, ``headers`` or the ``url`` callable raised
      (an ``OSError`` such as ``PermissionError`` too);
    * anything else (a bug).

    Pure: no I/O, never raises. ``Config(retry_if=fn)`` replaces it; ``fn`` may call it
    for the cases it does not decide itself.
    """
    if isinstance(error, HandshakeRejected):
        return error.status_code >= 500 or error.status_code in RETRYABLE_HANDSHAKE_STATUSES
    if isinstance(error, ProxyError):
        return _proxy_retryable(error)
    if isinstance(
        error, (SessionClosed, ConfigError, ApplicationError, IncompatibleServer, RedirectError)
    ):
        return False
    if isinstance(error, ConnectionLostError):
        if error.reason is LostReason.PROTOCOL_ERROR:
            return error.code != MESSAGE_TOO_BIG  # the same message would come again
        return not (error.reason is LostReason.PEER_CLOSED and error.code in FATAL_CLOSE_CODES)
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    return isinstance(error, OSError)


def _proxy_retryable(error: ProxyError) -> bool:
    if isinstance(error, ProxyAuthenticationError):
        return False
    if error.code is None:  # unreachable, reset, broke off the exchange
        return True
    if error.kind == "http":
        return error.code >= 500 or error.code in RETRYABLE_HANDSHAKE_STATUSES
    return error.code not in FATAL_SOCKS_REPLIES.get(error.kind, frozenset())


def retry_after(error: BaseException, *, now_wall: float) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` on a 429 or 503,
    uncapped (it may be huge, or ``inf``; :func:`next_delay` bounds it).

    Only the two forms of RFC 9110 section 10.2.3 that a server generates count:
    delay-seconds, ASCII digits only (``Retry-After: 7``), and an IMF-fixdate
    (``Retry-After: Sun, 06 Nov 1994 08:49:37 GMT``, section 5.6.7), the latter relative
    to ``now_wall`` (Unix time, seconds; a date in the past gives 0). Returns ``None``
    when the error is not such a rejection, or the header is absent or malformed (a
    non-ASCII digit such as ``"²"``, a sign, a fraction, another date format).
    """
    if not isinstance(error, HandshakeRejected) or error.status_code not in (429, 503):
        return None
    value = _header(error.headers, "retry-after")
    if value is None:
        return None
    value = value.strip(" \t")
    if value.isascii() and value.isdigit():
        return float(value)  # a 400-digit value is inf, not an error
    match = _IMF_FIXDATE.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second = match.groups()
    try:
        when = datetime.datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:  # 31 Feb, hour 25 ...
        return None
    return max(0.0, when.timestamp() - now_wall)


def next_delay(
    backoff: Backoff,
    attempt: int,
    error: BaseException | None,
    rng: random.Random,
    *,
    now_wall: float,
    elapsed: float = math.inf,
) -> tuple[float, float | None]:
    """The delay before attempt ``attempt`` (1-based) of an outage that ``error`` ended,
    and what the server asked for (``Retry-After`` seconds, uncapped, or ``None``).

    The delay is the jittered backoff delay (:func:`backoff_delay`; a peer close 1012 /
    1013 skips ``first_immediate``), raised to the server's ``Retry-After`` when it
    asked for longer, but never beyond ``backoff.retry_after_max``: ``max(backoff,
    min(retry_after, retry_after_max))``. So ``Retry-After: 0`` or a date in the past
    (a server with a skewed clock) cannot turn backoff and jitter off, and
    ``Retry-After: 99999999999`` cannot park the session for centuries.

    ``elapsed`` is how long the outage has lasted so far (seconds); only
    ``Backoff.bounded_jitter`` uses it.
    """
    if attempt == 1 and error is not None and must_wait_before_retry(error):
        attempt = 2  # the server asked for time: no immediate first retry
    delay = backoff_delay(backoff, attempt, rng, elapsed=elapsed)
    asked = None if error is None else retry_after(error, now_wall=now_wall)
    if asked is not None:
        delay = max(delay, min(asked, backoff.retry_after_max))
    return delay, asked


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


def backoff_delay(
    backoff: Backoff, attempt: int, rng: random.Random, *, elapsed: float = math.inf
) -> float:
    """Delay in seconds before attempt ``attempt`` (1-based) of an outage.

    Attempt 1 starts at once when ``backoff.first_immediate``; otherwise it waits step 1.
    Later attempts wait step ``attempt - 1`` (or ``attempt`` without ``first_immediate``).
    With ``jitter`` and not ``backoff.bounded_jitter`` the delay is drawn uniformly from
    ``[0, step]`` ("full jitter", AWS Architecture Blog, *Exponential Backoff And
    Jitter*, 2015) using ``rng``; pass a seeded ``random.Random`` for a repeatable
    schedule.

    With ``backoff.bounded_jitter`` (the default) the window is first cut to the outage so far,
    ``cap = min(step, max(initial, elapsed))``, and the draw is "equal jitter" (the
    same article): uniform from ``[cap / 2, cap]``. No session then waits longer than
    the outage has lasted, so a fleet is back within about twice the server's downtime,
    while the lower half of the window still spreads it (benchmarks/herd_model.py).
    """
    step = attempt - 1 if backoff.first_immediate else attempt
    cap = backoff_step(backoff, step)
    if cap == 0.0 or not backoff.jitter:
        return cap
    if backoff.bounded_jitter:
        cap = min(cap, max(backoff.initial, elapsed))
        return rng.uniform(cap / 2, cap)
    return rng.uniform(0.0, cap)


def must_wait_before_retry(error: BaseException) -> bool:
    """True when the error says the server wants time: a peer close with 1012 or 1013.
    Such a loss skips ``Backoff.first_immediate``."""
    return (
        isinstance(error, ConnectionLostError)
        and error.reason is LostReason.PEER_CLOSED
        and error.code in COME_BACK_LATER_CLOSE_CODES
    )
