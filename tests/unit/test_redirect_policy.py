"""The pure decisions of issue 11 items 2 and 3, without an event loop: where a
redirect leads and what survives it, the default headers, the new argument checks."""

from __future__ import annotations

import pytest

import tether
from tether.policy import (
    MAX_REDIRECTS,
    Hop,
    check_origin,
    check_server_hostname,
    check_user_agent,
    default_retry_if,
    follow_redirect,
    handshake_headers,
    parse_url,
    redirect_location,
)


def hop(location: str, url: str = "ws://a.test/x/y?q=1", **kwargs: bool) -> Hop:
    return follow_redirect([parse_url(url)], location, **kwargs)


@pytest.mark.parametrize(
    ("location", "landed"),
    [
        ("/z", "ws://a.test/z"),
        ("z", "ws://a.test/x/z"),
        ("../z", "ws://a.test/z"),
        ("?r=2", "ws://a.test/x/y?r=2"),
        ("//b.test/z", "ws://b.test/z"),
        ("wss://b.test:8443/z#frag", "wss://b.test:8443/z"),
        ("http://b.test/z", "ws://b.test/z"),
        ("HTTPS://b.test/z", "wss://b.test/z"),
        ("ws://a.test/x/y?q=2", "ws://a.test/x/y?q=2"),
    ],
)
def test_a_location_is_resolved_against_the_url_asked(location: str, landed: str) -> None:
    assert hop(location).url.url == landed


def test_redirect_location_follows_only_the_five_statuses_with_a_location() -> None:
    for status in (301, 302, 303, 307, 308):
        assert redirect_location(status, {"location": " /z\t"}) == "/z"
        assert redirect_location(status, {}) is None
    for status in (300, 304, 305, 306, 200, 401, 503):
        assert redirect_location(status, {"location": "/z"}) is None


def test_credentials_survive_a_same_origin_hop_only() -> None:
    start = "ws://alice:pw@a.test/"
    same = hop("/z", start)
    assert same.credentials and same.url.authorization == parse_url(start).authorization
    assert same.url.redacted == "ws://a.test/z"  # the userinfo is not carried into the URL
    for other in ("ws://b.test/", "ws://a.test:81/", "wss://a.test/"):
        crossed = hop(other, start)
        assert not crossed.credentials and crossed.url.authorization is None
    # Once dropped, they stay dropped, even back on the first origin.
    back = follow_redirect(
        [parse_url(start), parse_url("ws://b.test/")], "ws://a.test/back", credentials=False
    )
    assert not back.credentials and back.url.authorization is None


def test_the_default_ports_are_the_same_origin() -> None:
    assert hop("ws://a.test:80/z").credentials
    assert hop("wss://a.test:443/z", "wss://a.test/").credentials
    assert hop("ws://A.TEST/z").credentials


@pytest.mark.parametrize(
    ("chain", "location", "message"),
    [
        (
            ["wss://a.test/"],
            "ws://a.test/",
            "refusing a redirect from wss:// to ws:// (a TLS downgrade): wss://a.test/ -> ws://a.test/",
        ),
        (
            ["wss://a.test/"],
            "http://b.test/",
            "refusing a redirect from wss:// to ws:// (a TLS downgrade): wss://a.test/ -> ws://b.test/",
        ),
        (["ws://a.test/"], "", "redirect loop: ws://a.test/ -> ws://a.test/"),
        (["ws://a.test/"], "#top", "redirect loop: ws://a.test/ -> ws://a.test/"),
        (
            ["ws://a.test/a", "ws://a.test/b"],
            "/a",
            "redirect loop: ws://a.test/a -> ws://a.test/b -> ws://a.test/a",
        ),
        (
            ["ws://a.test/"],
            "ws://u:pw@b.test/",
            "cannot follow the redirect: its Location carries userinfo (tether does not send "
            "credentials a server hands out): ws://a.test/ -> ws://***@b.test/",
        ),
        (
            ["ws://a.test/"],
            "ws://b.test:99999/",
            "cannot follow the redirect: its Location does not parse as a URL: "
            "ws://a.test/ -> ws://b.test:99999/",
        ),
        (
            ["ws://a.test/"],
            "ws://b.test:0/",
            "cannot follow the redirect: port 0 cannot be connected to, in 'ws://b.test:0/': "
            "ws://a.test/ -> ws://b.test:0/",
        ),
    ],
)
def test_refused_redirects_name_the_hops(chain: list[str], location: str, message: str) -> None:
    with pytest.raises(tether.RedirectError) as raised:
        follow_redirect([parse_url(u) for u in chain], location)
    assert str(raised.value) == message
    assert raised.value.hops == tuple(message.rpartition(": ")[2].split(" -> "))


def test_the_limit_is_ten_redirects() -> None:
    assert MAX_REDIRECTS == 10
    chain = [parse_url(f"ws://a.test/{n}") for n in range(11)]
    assert follow_redirect(chain[:10], "/10").url.url == "ws://a.test/10"
    with pytest.raises(tether.RedirectError, match=r"^more than 10 redirects: ws://a.test/0 -> "):
        follow_redirect(chain, "/11")


def test_a_fixed_server_hostname_keeps_the_host() -> None:
    assert hop("ws://a.test:81/z", fixed_host=True).url.port == 81
    with pytest.raises(tether.RedirectError) as raised:
        hop("ws://b.test/", fixed_host=True)
    assert str(raised.value) == (
        "cannot follow a redirect to another host: server_hostname= names the TLS server "
        "of 'a.test' only: ws://a.test/x/y?q=1 -> ws://b.test/"
    )
    assert hop("ws://b.test/").url.host == "b.test"


def test_a_redirect_error_is_not_retried() -> None:
    assert default_retry_if(tether.RedirectError("redirect loop: a -> a", ("a", "a"))) is False
    assert default_retry_if(tether.HandshakeRejected(302, {})) is False


# ------------------------------------------------------------------- headers


def test_default_headers_come_after_the_given_ones_unless_given() -> None:
    assert handshake_headers(
        {"X-A": "1"}, authorization="Basic x", user_agent="ua/1", origin="https://o.test"
    ) == [
        (b"X-A", b"1"),
        (b"Authorization", b"Basic x"),
        (b"User-Agent", b"ua/1"),
        (b"Origin", b"https://o.test"),
    ]
    given = {"authorization": "Bearer t", "user-agent": "mine", "ORIGIN": "https://m.test"}
    assert handshake_headers(
        given, authorization="Basic x", user_agent="ua/1", origin="https://o.test"
    ) == [(b"authorization", b"Bearer t"), (b"user-agent", b"mine"), (b"ORIGIN", b"https://m.test")]
    assert handshake_headers({}) == []


def test_without_credentials_authorization_and_cookie_are_left_out() -> None:
    given = {"Authorization": "Bearer t", "COOKIE": "c=1", "X-A": "1"}
    assert handshake_headers(given, authorization="Basic x", credentials=False) == [(b"X-A", b"1")]
    assert handshake_headers({}, authorization="Basic x", credentials=False) == []
    # A bad header is still refused when it would be left out.
    with pytest.raises(tether.ConfigError, match=r"^headers: 'Cookie': value has a line break"):
        handshake_headers({"Cookie": "c\n"}, credentials=False)


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example",
        "http://127.0.0.1:8000",
        "http://[::1]:1",
        "chrome-extension://abcdef",
        "https://xn--bcher-kva.example",
        "https://app.example.:65535",
    ],
)
def test_serialized_origins_are_accepted(origin: str) -> None:
    check_origin(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "app.example",
        "https://app.example/",
        "https://app.example/path",
        "https://u@app.example",
        "https://app.example:0",
        "https://app.example:65536",
        "https://app.example:",
        "https://bücher.example",
        "https://",
        "1https://a",
        "https://[::g]",
        "https://a..b",
        "null",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    with pytest.raises(tether.ConfigError, match=r"^origin: "):
        check_origin(origin)


def test_user_agent_check() -> None:
    check_user_agent(None)
    check_user_agent("x/1 (y)")
    with pytest.raises(tether.ConfigError, match=r"^user_agent: 'User-Agent': value has "):
        check_user_agent(" padded")


@pytest.mark.parametrize(
    "name",
    [
        "example.test",
        "localhost",
        "xn--bcher-kva.example",
        "bücher.example",
        "a-b.c_d.test",
        "127.0.0.1",
        "::1",
        "host.",
    ],
)
def test_server_hostname_accepts_names_and_addresses(name: str) -> None:
    check_server_hostname(name, default_opener=True)
    check_server_hostname(None, default_opener=False)


@pytest.mark.parametrize(
    "name",
    ["", "wss://example.test", "example.test/", "a b", "-a.test", "a-.test", "a..test", ".a"],
)
def test_server_hostname_refuses_what_is_no_name(name: str) -> None:
    with pytest.raises(tether.ConfigError, match=r"^server_hostname: must be a host name"):
        check_server_hostname(name, default_opener=True)
