"""The state transition table and URL validation (both pure)."""

from __future__ import annotations

import pytest

from tether import ConfigError, State
from tether.policy._url import parse_url
from tether.state import InvalidTransition, check_transition

ALLOWED = {
    (State.CONNECTING, State.OPEN),
    (State.CONNECTING, State.BACKING_OFF),
    (State.CONNECTING, State.CONNECTING),
    (State.OPEN, State.CONNECTING),
    (State.OPEN, State.BACKING_OFF),
    (State.BACKING_OFF, State.CONNECTING),
    *((state, State.CLOSING) for state in State if state not in (State.CLOSING, State.CLOSED)),
    *((state, State.CLOSED) for state in State if state is not State.CLOSED),
}


@pytest.mark.parametrize("current", list(State))
@pytest.mark.parametrize("target", list(State))
def test_transition_table(current: State, target: State) -> None:
    if (current, target) in ALLOWED:
        assert check_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


@pytest.mark.parametrize(
    ("url", "host", "port", "resource", "tls", "host_header"),
    [
        ("ws://example.com", "example.com", 80, "/", False, "example.com"),
        ("wss://example.com/feed?x=1", "example.com", 443, "/feed?x=1", True, "example.com"),
        ("ws://127.0.0.1:8765/a", "127.0.0.1", 8765, "/a", False, "127.0.0.1:8765"),
        ("WS://[::1]:9000/", "::1", 9000, "/", False, "[::1]:9000"),
        # Non-ASCII in the path or query is percent-encoded (UTF-8); escapes are kept.
        ("ws://h/p\u00e4th?q=\u00fc&r=%20", "h", 80, "/p%C3%A4th?q=%C3%BC&r=%20", False, "h"),
    ],
)
def test_parse_url(
    url: str, host: str, port: int, resource: str, tls: bool, host_header: str
) -> None:
    parsed = parse_url(url)
    assert (parsed.host, parsed.port, parsed.resource, parsed.tls) == (host, port, resource, tls)
    assert parsed.host_header == host_header


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com", "scheme"),
        ("example.com", "scheme"),
        ("ws://", "no host"),
        ("ws://example.com:99999", "malformed"),
        ("ws://example.com/#frag", "fragment"),
        (b"ws://example.com", "must be a str"),
    ],
)
def test_bad_urls_raise_config_error(url: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(url)
