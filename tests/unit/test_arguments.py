"""The pure argument checks of ``tether.policy``, without an event loop."""

from __future__ import annotations

import pytest

from tether import ConfigError
from tether.policy import check_close, handshake_headers, header_problem, parse_url
from tether.protocol import ProtocolViolation
from tether.protocol._close import parse_close


def parser_accepts(code: int) -> bool:
    try:
        parse_close(code.to_bytes(2, "big"))
    except ProtocolViolation:
        return False
    return True


def close_accepts(code: int) -> bool:
    try:
        check_close(code, "")
    except ConfigError:
        return False
    return True


def test_aclose_accepts_exactly_the_codes_the_parser_accepts() -> None:
    # One rule for both directions (RFC 6455 section 7.4): what tether may send is what
    # it lets a server send.
    assert [c for c in range(6000) if close_accepts(c)] == [
        c for c in range(6000) if parser_accepts(c)
    ]
    assert close_accepts(1002) and close_accepts(3000) and close_accepts(4999)


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-A", ""), ("X-A", "a b\tc"), ("X-A", "\u00ff"), ("Authorization", "Bearer x")],
)
def test_valid_headers_have_no_problem(name: str, value: str) -> None:
    assert header_problem(name, value) is None


def test_headers_are_encoded_in_order_then_the_url_authorization() -> None:
    authorization = parse_url("ws://u:p@h/").authorization
    assert authorization == "Basic dTpw"
    assert "dTpw" not in repr(parse_url("ws://u:p@h/"))
    assert handshake_headers({"X-A": "\u00e9", "X-B": "2"}, authorization=authorization) == [
        (b"X-A", b"\xe9"),
        (b"X-B", b"2"),
        (b"Authorization", b"Basic dTpw"),
    ]
    assert handshake_headers({"authorization": "Bearer t"}, authorization=authorization) == [
        (b"authorization", b"Bearer t")
    ]
    assert parse_url("ws://h/").authorization is None


def test_url_errors_hide_the_userinfo() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url("ws://user:hunter2@h:0/")
    assert "hunter2" not in str(raised.value)
    assert "ws://***@h:0/" in str(raised.value)
