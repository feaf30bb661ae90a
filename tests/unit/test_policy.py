"""The retry-or-fail table (docs/design.md), Retry-After and the backoff schedule."""

from __future__ import annotations

import random
import socket
import ssl

import pytest

from tether import (
    ApplicationError,
    Backoff,
    ConfigError,
    ConnectionLostError,
    HandshakeRejected,
    IncompatibleServer,
    LostReason,
    ProxyAuthenticationError,
    ProxyError,
    ReconnectFailed,
    SessionClosed,
)
from tether.policy._retry import (
    backoff_delay,
    backoff_step,
    default_retry_if,
    must_wait_before_retry,
    retry_after,
)


def proxy_error(kind: str, code: int | None) -> ProxyError:
    return ProxyError("test", proxy=f"{kind}://proxy:1080", kind=kind, code=code)


def lost(reason: LostReason, code: int | None = None) -> ConnectionLostError:
    return ConnectionLostError(reason, code, "test")


RETRY_TABLE = [
    pytest.param(ConnectionRefusedError(), True, id="refused"),
    pytest.param(ConnectionResetError(), True, id="reset"),
    pytest.param(OSError(101, "Network is unreachable"), True, id="unreachable"),
    pytest.param(socket.gaierror(socket.EAI_AGAIN, "temporary"), True, id="dns-temporary"),
    pytest.param(TimeoutError("connect timeout"), True, id="connect-timeout"),
    *[
        pytest.param(lost(LostReason.PEER_CLOSED, code), True, id=f"peer-close-{code}")
        for code in (1000, 1001, 1006, 1011, 1012, 1013, 1014)
    ],
    pytest.param(lost(LostReason.PING_TIMEOUT), True, id="ping-timeout"),
    pytest.param(lost(LostReason.IDLE_TIMEOUT), True, id="idle-timeout"),
    pytest.param(lost(LostReason.TRANSPORT_ERROR, 1006), True, id="transport-error"),
    pytest.param(lost(LostReason.SUPERSEDED), True, id="superseded"),
    pytest.param(lost(LostReason.PROTOCOL_ERROR, 1002), True, id="server-broke-protocol"),
    pytest.param(lost(LostReason.PROTOCOL_ERROR, 1007), True, id="server-sent-bad-utf8"),
    pytest.param(lost(LostReason.PROTOCOL_ERROR, 1009), False, id="inbound-too-big"),
    pytest.param(ConnectionError("TLS handshake failed: [SSL] x"), True, id="tls-other"),
    pytest.param(IncompatibleServer("extension not offered"), False, id="incompatible"),
    *[
        pytest.param(ApplicationError("on_connect", error), False, id=f"app-{name}")
        for name, error in [
            ("permission", PermissionError("denied")),
            ("file-not-found", FileNotFoundError("token")),
            ("timeout", TimeoutError("user's own")),
            ("runtime", RuntimeError("bug")),
        ]
    ],
    *[
        pytest.param(HandshakeRejected(status, {}), True, id=f"handshake-{status}")
        for status in (500, 502, 503, 504, 408, 429)
    ],
    *[
        pytest.param(HandshakeRejected(status, {}), False, id=f"handshake-{status}")
        for status in (400, 401, 403, 404, 410)
    ],
    pytest.param(ssl.SSLCertVerificationError("bad cert"), False, id="tls-cert"),
    pytest.param(ConfigError("url: bad"), False, id="bad-url"),
    *[
        pytest.param(lost(LostReason.PEER_CLOSED, code), False, id=f"peer-close-{code}")
        for code in (1002, 1003, 1007, 1008, 1009, 1010)
    ],
    pytest.param(proxy_error("http", None), True, id="proxy-down-or-reset"),
    *[
        pytest.param(proxy_error("http", status), True, id=f"proxy-http-{status}")
        for status in (500, 502, 503, 504, 408, 429)
    ],
    *[
        pytest.param(proxy_error("http", status), False, id=f"proxy-http-{status}")
        for status in (400, 403, 405, 499)
    ],
    *[
        pytest.param(proxy_error("socks5", code), True, id=f"proxy-socks5-{code}")
        for code in (1, 3, 4, 5, 6)
    ],
    *[
        pytest.param(proxy_error("socks5", code), False, id=f"proxy-socks5-{code}")
        for code in (2, 7, 8)
    ],
    pytest.param(proxy_error("socks4", 91), True, id="proxy-socks4-91"),
    pytest.param(proxy_error("another-kind", 2), True, id="proxy-of-another-kind"),
    pytest.param(proxy_error("socks4", 93), False, id="proxy-socks4-93"),
    *[
        pytest.param(
            ProxyAuthenticationError("test", proxy="p", kind=kind, code=code),
            False,
            id=f"proxy-auth-{kind}",
        )
        for kind, code in (("http", 407), ("socks5", None))
    ],
    pytest.param(RuntimeError("bug in on_connect"), False, id="user-bug"),
    pytest.param(SessionClosed("closed"), False, id="session-closed"),
    pytest.param(ReconnectFailed("gave up"), False, id="gave-up"),
]


@pytest.mark.parametrize(("error", "expected"), RETRY_TABLE)
def test_default_retry_if_table(error: BaseException, expected: bool) -> None:
    assert default_retry_if(error) is expected


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (503, {"Retry-After": "7"}, 7.0),
        (429, {"retry-after": " 120 "}, 120.0),
        (503, {}, None),
        (500, {"Retry-After": "7"}, None),
        (503, {"Retry-After": "soon"}, None),
        (503, {"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 40.0),
        (503, {"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),
    ],
)
def test_retry_after(status: int, headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(HandshakeRejected(status, headers), now_wall=60.0) == expected


def test_retry_after_ignores_other_errors() -> None:
    assert retry_after(ConnectionRefusedError(), now_wall=0.0) is None


def test_backoff_without_jitter_is_exponential_and_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=4, multiplier=2, jitter=False)
    rng = random.Random(0)
    delays = [backoff_delay(backoff, attempt, rng) for attempt in range(1, 8)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_not_first_immediate_waits_one_step() -> None:
    backoff = Backoff(initial=1, maximum=10, jitter=False, first_immediate=False)
    rng = random.Random(0)
    assert [backoff_delay(backoff, n, rng) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_full_jitter_draws_within_the_step_and_is_seeded() -> None:
    backoff = Backoff(initial=1, maximum=30, bounded_jitter=False)
    first = [backoff_delay(backoff, n, random.Random(42)) for n in range(2, 12)]
    again = [backoff_delay(backoff, n, random.Random(42)) for n in range(2, 12)]
    assert first == again
    for n, delay in zip(range(2, 12), first, strict=True):
        assert 0.0 <= delay <= backoff_step(backoff, n - 1)
    draws = [backoff_delay(backoff, 8, random.Random(seed)) for seed in range(200)]
    assert min(draws) < 3 and max(draws) > 27  # spread over [0, 30], not clustered


def test_backoff_step_survives_huge_attempt_numbers() -> None:
    backoff = Backoff(initial=0.5, maximum=30, multiplier=2)
    assert backoff_step(backoff, 10_000) == 30.0
    assert backoff_step(Backoff(initial=1, maximum=1, multiplier=1), 10_000) == 1.0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionLostError(LostReason.PEER_CLOSED, 1012, "restart"), True),
        (ConnectionLostError(LostReason.PEER_CLOSED, 1013, "later"), True),
        (ConnectionLostError(LostReason.PEER_CLOSED, 1001, "going away"), False),
        (ConnectionLostError(LostReason.TRANSPORT_ERROR, 1006, "reset"), False),
        (ConnectionRefusedError(), False),
    ],
)
def test_must_wait_before_retry(error: BaseException, expected: bool) -> None:
    assert must_wait_before_retry(error) is expected
