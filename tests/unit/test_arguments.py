"""The pure argument checks of ``tether.policy``, without an event loop."""

from __future__ import annotations

import pathlib

import pytest

from tether import ConfigError
from tether.policy import (
    check_close,
    check_close_code,
    check_unix_socket,
    handshake_headers,
    header_problem,
    parse_url,
)
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


def test_reconnect_code_check_is_the_aclose_code_check() -> None:
    # Session.reconnect(code=...) and aclose(code=...) share one rule, and so does
    # Config.supersede_close_code, which checks it itself (values import no policy).
    for code in range(6000):
        if close_accepts(code):
            check_close_code(code)
            continue
        with pytest.raises(ConfigError) as raised:
            check_close_code(code)
        assert str(raised.value) == (
            f"code: {code} cannot be sent in a Close frame (RFC 6455 section 7.4): use "
            "1000, 1001, 1002, 1003, 1007-1014 or 3000-4999"
        )
    for bad, kind in ((True, "bool"), ("1000", "str"), (1000.0, "float"), (None, "NoneType")):
        with pytest.raises(ConfigError) as raised:
            check_close_code(bad)
        assert str(raised.value) == f"code: must be an int, got {kind}"


@pytest.mark.parametrize("path", [None, "/run/ws.sock", "s", pathlib.Path("/run/ws.sock")])
def test_unix_socket_paths_accepted_without_an_opener(path: object) -> None:
    check_unix_socket(path, None)


def test_an_absent_unix_socket_goes_with_any_opener() -> None:
    check_unix_socket(None, object())


@pytest.mark.parametrize(
    ("path", "opener", "message"),
    [
        ("/run/ws.sock", object(), "unix_socket: cannot be combined with opener= "),
        (pathlib.Path("s"), object(), "unix_socket: cannot be combined with opener= "),
        (b"/run/ws.sock", None, "unix_socket: must be a str or os.PathLike path, got bytes"),
        (3, None, "unix_socket: must be a str or os.PathLike path, got int"),
        ("", None, "unix_socket: the path is empty"),
        ("", object(), "unix_socket: the path is empty"),
    ],
)
def test_unix_socket_refusals(path: object, opener: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_unix_socket(path, opener)
    assert str(raised.value).startswith(message)
