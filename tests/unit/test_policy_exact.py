"""Exact outputs of the pure decisions (tether.policy, tether.state): each error
message in full (a clear message is part of the product: these are what a user reads),
each boundary of the header grammar (RFC 9110 sections 5.5 and 5.6.2), the backoff
schedule for awkward parameters, and the rules of ``next_delay``. Expected values are
literals or arithmetic from the docstrings, never computed by the functions tested."""

from __future__ import annotations

import datetime
import os
import random
import time
from collections.abc import Iterator

import pytest

from tether import Backoff, ConfigError, HandshakeRejected, LostReason
from tether.exceptions import ConnectionLostError
from tether.policy import (
    backoff_delay,
    backoff_step,
    handshake_headers,
    header_problem,
    next_delay,
    parse_url,
    redact_url,
    retry_after,
)
from tether.policy._arguments import check_callback, check_close, check_codec, check_ssl_context
from tether.policy._headers import check_headers_argument
from tether.policy._url import WebSocketURL
from tether.state import InvalidTransition, State, check_transition

# ---------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (1, "v", "header name must be a str, got int"),
        ("", "v", "a header name is empty"),
        ("X Token", "v", "name 'X' then whitespace is not an HTTP token (RFC 9110 section 5.6.2)"),
        ("X\tToken", "v", "name 'X' then whitespace is not an HTTP token (RFC 9110 section 5.6.2)"),
        (
            "X\nToken",
            "v",
            "name 'X' then a line break (CR or LF) is not an HTTP token (RFC 9110 section 5.6.2)",
        ),
        ("X\0", "v", "name 'X' then a NUL character is not an HTTP token (RFC 9110 section 5.6.2)"),
        (
            "X\x1f",
            "v",
            "name 'X' then a control character (U+001F) is not an HTTP token "
            "(RFC 9110 section 5.6.2)",
        ),
        (
            "X\x7f",
            "v",
            "name 'X' then a control character (U+007F) is not an HTTP token "
            "(RFC 9110 section 5.6.2)",
        ),
        ("X\xff", "v", "name 'X' then 'ÿ' is not an HTTP token (RFC 9110 section 5.6.2)"),
        (
            "X\u0100",
            "v",
            "name 'X' then a character outside Latin-1 (U+0100) is not an HTTP token "
            "(RFC 9110 section 5.6.2)",
        ),
        ("X@", "v", "name 'X' then '@' is not an HTTP token (RFC 9110 section 5.6.2)"),
        (
            "Host",
            "v",
            "'Host' is set by tether (the handshake writes Host, Upgrade, Connection and "
            "Sec-WebSocket-*)",
        ),
        (
            "SEC-WEBSOCKET-PROTOCOL",
            "chat",
            "'SEC-WEBSOCKET-PROTOCOL' is set by tether (the handshake writes Host, Upgrade, "
            "Connection and Sec-WebSocket-*); offer subprotocols with subprotocols=",
        ),
        (
            "Sec-WebSocket-Key",
            "k",
            "'Sec-WebSocket-Key' is set by tether (the handshake writes Host, Upgrade, "
            "Connection and Sec-WebSocket-*)",
        ),
        ("X-Token", 7, "'X-Token': value must be a str, got int"),
        ("X-Token", "t\n", "'X-Token': value has a line break (CR or LF) (RFC 9110 section 5.5)"),
        (
            "X-Token",
            "a\tb\x01c",
            "'X-Token': value has a control character (U+0001) (RFC 9110 section 5.5)",
        ),
        (
            "X-Token",
            "\xff\n",
            "'X-Token': value has a line break (CR or LF) (RFC 9110 section 5.5)",
        ),
        (
            "X-Token",
            "\u0100",
            "'X-Token': value has a character outside Latin-1 (U+0100) (RFC 9110 section 5.5)",
        ),
        (
            "X-Token",
            " t",
            "'X-Token': value has leading or trailing whitespace (RFC 9110 section 5.5)",
        ),
        ("X-Token", "a \t\xff b", None),  # inner spaces, tabs and obs-text are allowed
        ("X-Token", "", None),
    ],
)
def test_header_problem_says_exactly_what_is_wrong(
    name: object, value: object, problem: str | None
) -> None:
    assert header_problem(name, value) == problem


def test_handshake_headers_encode_latin_1_and_add_authorization_last() -> None:
    assert handshake_headers({"X-A": "\xe9"}, authorization="Basic dTpw") == [
        (b"X-A", b"\xe9"),
        (b"Authorization", b"Basic dTpw"),
    ]
    # A header the caller gave wins over the URL's userinfo, whatever its case.
    assert handshake_headers({"AUTHORIZATION": "Bearer t"}, authorization="Basic dTpw") == [
        (b"AUTHORIZATION", b"Bearer t"),
    ]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("X-A", "1")], "headers: must be a mapping of str to str, got list"),
        (
            {"X-A": "1\r\n"},
            "headers: 'X-A': value has a line break (CR or LF) (RFC 9110 section 5.5)",
        ),
    ],
)
def test_handshake_headers_errors(headers: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        handshake_headers(headers)
    assert str(raised.value) == message


def test_check_headers_argument_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        check_headers_argument([("X-A", "1")])
    assert str(raised.value) == (
        "headers: must be a mapping of str to str or an async callable returning one, got list"
    )
    check_headers_argument(None)
    check_headers_argument(lambda: None)


# ---------------------------------------------------------------------------- arguments


class _EncodeOnly:
    def encode(self, message: object) -> str:
        return ""


def test_argument_errors_name_the_argument_and_the_type() -> None:
    with pytest.raises(ConfigError) as raised:
        check_callback("on_event", "print")
    assert str(raised.value) == "on_event: must be callable, got str"
    with pytest.raises(ConfigError) as raised:
        check_ssl_context(object())
    assert str(raised.value) == (
        "ssl_context: must be an ssl.SSLContext (ssl.create_default_context()), got object"
    )
    with pytest.raises(ConfigError) as raised:
        check_codec(_EncodeOnly())
    assert str(raised.value) == (
        "codec: must have callable encode() and decode() (tether.Codec), got _EncodeOnly"
    )
    with pytest.raises(ConfigError) as raised:
        check_close(999, "")
    assert str(raised.value) == (
        "code: 999 cannot be sent in a Close frame (RFC 6455 section 7.4): use "
        "1000, 1001, 1002, 1003, 1007-1014 or 3000-4999"
    )


# ---------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "url: must be a str, got NoneType"),
        (
            "ws://alice@h/",
            "url: a user name without a password in 'ws://***@h/' (write user:password@, "
            "or send an Authorization header)",
        ),
        (
            "ws://a%3Ab:pw@h/",
            "url: the user name must not contain ':' (RFC 7617), in 'ws://***@h/'",
        ),
    ],
)
def test_url_errors(url: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url(url)
    assert str(raised.value) == message


def test_parse_url_keeps_the_url_as_given_and_encodes_userinfo_as_basic() -> None:
    parsed = parse_url("ws://us%C3%A9r:p%40ss@h:81/p?q=1")
    assert parsed.url == "ws://us%C3%A9r:p%40ss@h:81/p?q=1"
    # RFC 7617: base64 of "usér:p@ss" in UTF-8.
    assert parsed.authorization == "Basic dXPDqXI6cEBzcw=="


# ---------------------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("backoff", "steps"),
    [
        # min(maximum, initial * multiplier ** (step - 1)), steps 1..8
        (Backoff(initial=1, maximum=30, multiplier=2), [1, 2, 4, 8, 16, 30, 30, 30]),
        (Backoff(initial=1, maximum=30, multiplier=1.5), [1, 1.5, 2.25, 3.375, 5.0625, 7.59375]),
        (Backoff(initial=0.125, maximum=30, multiplier=2), [0.125, 0.25, 0.5, 1, 2, 4, 8, 16]),
        (Backoff(initial=1, maximum=1.5, multiplier=1.25), [1, 1.25, 1.5, 1.5]),
    ],
)
def test_backoff_steps_are_exact_below_and_at_the_cap(backoff: Backoff, steps: list[float]) -> None:
    assert [backoff_step(backoff, n) for n in range(1, len(steps) + 1)] == steps
    assert backoff_step(backoff, 0) == 0.0


def test_full_jitter_is_a_uniform_draw_from_zero_to_the_step() -> None:
    backoff = Backoff(initial=1, maximum=8, bounded_jitter=False)
    draws = random.Random(3)
    expected = [0.0] + [cap * draws.random() for cap in (1, 2, 4, 8, 8)]
    rng = random.Random(3)
    assert [backoff_delay(backoff, n, rng) for n in range(1, 7)] == expected


def test_a_come_back_later_close_waits_one_step_before_the_first_retry() -> None:
    backoff = Backoff(initial=1, maximum=8, jitter=False)
    restart = ConnectionLostError(LostReason.PEER_CLOSED, 1012, "service restart")
    dropped = ConnectionLostError(LostReason.TRANSPORT_ERROR, None, "reset")
    rng = random.Random(0)
    assert next_delay(backoff, 1, restart, rng, now_wall=0) == (1.0, None)
    assert next_delay(backoff, 2, restart, rng, now_wall=0) == (1.0, None)
    assert next_delay(backoff, 3, restart, rng, now_wall=0) == (2.0, None)
    assert next_delay(backoff, 1, dropped, rng, now_wall=0) == (0.0, None)
    assert next_delay(backoff, 1, None, rng, now_wall=0) == (0.0, None)


# ---------------------------------------------------------------------------- Retry-After


def _busy(value: str) -> HandshakeRejected:
    return HandshakeRejected(503, {"Retry-After": value}, b"")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" \t7\t ", 7.0),  # OWS is SP and HTAB (RFC 9110 section 5.6.3)
        ("7\x0c", None),  # a form feed is not OWS
        ("\n7", None),
        ("7X", None),
        ("X7", None),
    ],
)
def test_retry_after_strips_only_spaces_and_tabs(value: str, expected: float | None) -> None:
    assert retry_after(_busy(value), now_wall=0) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Sat, 31 Feb 2026 10:00:00 GMT",
        "Sun, 01 Mar 2026 25:00:00 GMT",
        "Sun, 01 Mar 2026 10:61:00 GMT",
    ],
)
def test_an_impossible_date_is_no_retry_after(value: str) -> None:
    """The IMF-fixdate shape with a date or time that does not exist: ignored (the
    default backoff applies), not an error."""
    assert retry_after(_busy(value), now_wall=0) is None


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """The local time zone is UTC-5: an HTTP-date read as local time would be 5 h off."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "EST+05"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_retry_after_dates_are_gmt_whatever_the_local_zone(far_from_utc: None) -> None:
    now = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
    assert retry_after(_busy("Wed, 02 Dec 2026 12:00:30 GMT"), now_wall=now) == 30.0


# ---------------------------------------------------------------------------- state


def test_invalid_transitions_say_which() -> None:
    with pytest.raises(InvalidTransition) as raised:
        check_transition(State.CLOSED, State.OPEN)
    assert str(raised.value) == "CLOSED is terminal (asked for OPEN)"
    with pytest.raises(InvalidTransition) as raised:
        check_transition(State.BACKING_OFF, State.OPEN)
    assert str(raised.value) == "BACKING_OFF -> OPEN is not allowed"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (5, "url: must be a str, got int"),
        (
            "ws://h:99999/",
            "url: 'ws://h:99999/' is malformed: the port is not a number from 0 to 65535",
        ),
        ("ws://[::1/", "url: 'ws://[::1/' is malformed: invalid IPv6 address (brackets)"),
        ("ws://[1.2.3.4]/", "url: 'ws://[1.2.3.4]/' is malformed: invalid IPv6 address (brackets)"),
        ("ws://[zz]/", "url: 'ws://[zz]/' is malformed: invalid IPv6 address (brackets)"),
        ("ws://[vz]/", "url: 'ws://[vz]/' is malformed: it does not parse as a URL"),
    ],
)
def test_malformed_url_errors_say_what_urllib_found_without_quoting_it(
    url: object, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url(url)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://u:p@h//x@y/", "ws://***@y/"),  # to the last @ before the query: safe side
        ("ws://h/?token=a=b&room=1", "ws://h/?token=***&room=1"),  # the value may hold "="
        ("ws://h/?token=s?x", "ws://h/?token=***"),  # the first "?" starts the query
        ("ws://h/?X-Api-Key=s#part", "ws://h/?X-Api-Key=***#part"),  # the fragment stays
        ("ws://h/?room=1&flag", "ws://h/?room=1&flag"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_websocket_url_built_directly_is_redacted_too() -> None:
    built = WebSocketURL(url="ws://u:p@h/?sig=s", host="h", port=80, resource="/?sig=s", tls=False)
    assert built.redacted == "ws://***@h/?sig=***"
    assert parse_url("ws://u:p@h/?sig=s").redacted == "ws://***@h/?sig=***"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://user:pass#word@host/", "'ws://***@host/'"),
        ("ws://user:pa?ss@host/", "'ws://***@host/'"),
        ("ws://user:12#34@host/", "'ws://***@host/'"),
    ],
)
def test_a_refused_url_hides_a_password_holding_a_hash_or_question_mark(
    url: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url(url)
    assert shown in str(raised.value)
    assert "pass" not in str(raised.value).replace("password", "")
    assert "word" not in str(raised.value) and "34" not in str(raised.value)


def test_a_password_holding_a_slash_is_hidden_in_the_redacted_url() -> None:
    # urllib takes "user" for the host and 1234 for the port: the URL is "valid", so
    # its redacted form (in every event) must not show "/x".
    assert parse_url("ws://user:1234/x@host/").redacted == "ws://***@host/"


@pytest.mark.parametrize("name", ["pass", "pwd", "session", "sid", "ticket", "code"])
def test_more_credential_names_are_hidden(name: str) -> None:
    assert redact_url(f"ws://h/?{name}=s3cr3t&room=1") == f"ws://h/?{name}=***&room=1"


def test_the_sendable_close_codes_are_rfc_6455s() -> None:
    from tether.policy import sendable_close_code

    # RFC 6455 section 7.4 (and the IANA registry for 1012-1014), written out.
    may_send = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}
    assert [code for code in range(5200) if sendable_close_code(code)] == sorted(may_send)


def test_bounded_jitter_draws_the_upper_half_of_a_window_cut_to_the_outage() -> None:
    backoff = Backoff(initial=1, maximum=8, bounded_jitter=True)
    draws = random.Random(3)
    # (attempt, outage so far) -> window cap: min(step, max(initial, elapsed))
    cases = [(1, 0.0, 0.0), (2, 0.0, 1.0), (3, 0.4, 1.0), (4, 100.0, 4.0), (5, 3.0, 3.0)]
    expected = [0.0] + [cap / 2 + cap / 2 * draws.random() for _, _, cap in cases[1:]]
    rng = random.Random(3)
    got = [backoff_delay(backoff, n, rng, elapsed=elapsed) for n, elapsed, _ in cases]
    assert got == expected
    # Without an outage length (a direct call) the window is the step: equal jitter.
    draws = random.Random(5)
    assert backoff_delay(backoff, 5, random.Random(5)) == 4 + 4 * draws.random()
    # next_delay passes the outage length on.
    draws = random.Random(7)
    assert next_delay(backoff, 6, None, random.Random(7), now_wall=0, elapsed=2.0) == (
        1 + 1 * draws.random(),
        None,
    )


def test_bounded_jitter_is_the_default_and_needs_jitter() -> None:
    assert Backoff().bounded_jitter is True
    no_jitter = Backoff(initial=1, maximum=8, jitter=False)
    assert backoff_delay(no_jitter, 5, random.Random(0), elapsed=2.0) == 8.0
    full = Backoff(initial=1, maximum=8, bounded_jitter=False)
    draws = random.Random(9)
    assert backoff_delay(full, 5, random.Random(9), elapsed=2.0) == 8 * draws.random()
