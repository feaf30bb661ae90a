"""Exact outputs of the pure decisions behind reaching a server (issue 11): the checks
of ``origin=``, ``server_hostname=``, ``unix_socket=`` and ``user_agent=``, where a
redirect leads (RFC 9110 section 10.2.2 / 15.4), and how a URL is shown. Expected
values are literals."""

from __future__ import annotations

import pytest

from tether import ConfigError, RedirectError
from tether.policy import Hop, follow_redirect, parse_url, redact_url, redirect_location
from tether.policy._arguments import (
    check_origin,
    check_server_hostname,
    check_unix_socket,
    check_user_agent,
)


def _message(check: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as raised:
        check(*args, **kwargs)  # type: ignore[operator]
    return str(raised.value)


def test_argument_errors_of_the_reach_options() -> None:
    assert _message(check_origin, 7) == "origin: must be a str or None, got int"
    assert _message(check_origin, "https://app.example/") == (
        "origin: must be a serialized origin scheme://host[:port] (RFC 6454 section 6.2), "
        "such as 'https://app.example', got 'https://app.example/' (an origin has no path: "
        "drop the trailing '/')"
    )
    assert _message(check_origin, "https://app.example/x") == (
        "origin: must be a serialized origin scheme://host[:port] (RFC 6454 section 6.2), "
        "such as 'https://app.example', got 'https://app.example/x'"
    )
    assert _message(check_origin, "http://[1::2::3]") == (
        "origin: 'http://[1::2::3]' has an invalid IPv6 address"
    )
    check_origin("http://[1:2:3:4:5:6:7:8]:8080")  # a full IPv6 address is fine
    assert _message(check_server_hostname, 7, default_opener=True) == (
        "server_hostname: must be a str or None, got int"
    )
    assert _message(check_server_hostname, "example.test", default_opener=False) == (
        "server_hostname: only the default opener does TLS; with opener=, give the name to "
        "your opener (tether.TcpOpener(server_hostname=...))"
    )
    assert _message(check_unix_socket, "/run/ws.sock", print) == (
        "unix_socket: cannot be combined with opener= (the opener decides where to connect; "
        "pass opener=tether.UnixOpener(path) yourself, or leave opener out)"
    )
    assert _message(check_user_agent, b"bot") == "user_agent: must be a str or None, got bytes"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (" \t/next\t ", "/next"),  # OWS around a field value (RFC 9110 section 5.6.3)
        ("X/nextX", "X/nextX"),
        ("/next\x0b", "/next\x0b"),  # only spaces and tabs are stripped
    ],
)
def test_redirect_location_strips_only_spaces_and_tabs(location: str, expected: str) -> None:
    assert redirect_location(301, {"location": location}) == expected


def test_a_location_with_another_scheme_is_refused_not_a_crash() -> None:
    with pytest.raises(RedirectError) as raised:
        follow_redirect([parse_url("ws://h/")], "ftp://h/x")
    assert raised.value.hops == ("ws://h/", "ftp://h/x")


def test_a_refused_location_shows_no_password_even_with_a_hash_in_it() -> None:
    with pytest.raises(RedirectError) as raised:
        follow_redirect([parse_url("ws://h/")], "ws://u:pa#ss@evil/")
    assert raised.value.hops == ("ws://h/", "ws://***@evil/")
    assert "pa#ss" not in str(raised.value)


def test_refused_redirects_carry_their_hops() -> None:
    chain = [parse_url(f"ws://h/{n}") for n in range(11)]
    with pytest.raises(RedirectError) as raised:
        follow_redirect(chain, "/11")
    assert raised.value.hops == tuple(f"ws://h/{n}" for n in range(12))
    with pytest.raises(RedirectError) as raised:
        follow_redirect([parse_url("wss://h/")], "wss://other/", fixed_host=True)
    assert raised.value.hops == ("wss://h/", "wss://other/")


def test_a_cross_origin_hop_drops_the_credentials() -> None:
    hop = follow_redirect([parse_url("ws://u:p@h/")], "ws://other/")
    assert hop == Hop(parse_url("ws://other/"), credentials=False)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://h/?email=a@b", "ws://h/?email=a@b"),  # an @ in the query is no userinfo
        ("ws://a@h/?q=//b@c", "ws://***@h/?q=//b@c"),  # only the first (the authority)
    ],
)
def test_redact_url_hides_only_the_authoritys_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_malformed_proxy_url_shows_no_password_even_with_a_hash_in_it() -> None:
    from tether.policy import parse_proxy_url

    with pytest.raises(ConfigError) as raised:
        parse_proxy_url("http://alice:pa#ss@proxy.corp:3128")
    assert "pa#ss" not in str(raised.value) and "ss@proxy" not in str(raised.value)
    assert "'http://***@proxy.corp:3128'" in str(raised.value)
