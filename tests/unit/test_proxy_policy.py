"""The choice of proxy (``connect(proxy=...)`` and the environment) and proxy URL checks:
pure, with the environment passed as a mapping."""

from __future__ import annotations

import pytest

from tether import ConfigError
from tether.policy import ENVIRONMENT, choose_proxy, environment_proxies, parse_proxy_url, parse_url

WS = parse_url("ws://feed.example.com:8080/v1")
WSS = parse_url("wss://feed.example.com/v1")


def chosen(target: object, environ: dict[str, str], proxy: object = ENVIRONMENT) -> str | None:
    assert target in (WS, WSS)
    found = choose_proxy(target, proxy, environ)  # type: ignore[arg-type]
    return None if found is None else found.url


@pytest.mark.parametrize(
    ("environ", "for_ws", "for_wss"),
    [
        pytest.param({}, None, None, id="none"),
        pytest.param({"http_proxy": "http://h:1"}, "http://h:1", None, id="http-for-ws"),
        pytest.param({"HTTPS_PROXY": "http://s:1"}, None, "http://s:1", id="https-for-wss"),
        pytest.param(
            {"ALL_PROXY": "socks5h://a:1", "https_proxy": "http://s:1"},
            "socks5h://a:1",
            "http://s:1",
            id="all-as-fallback",
        ),
        pytest.param(
            {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1"},
            "http://lower:1",
            None,
            id="lower-case-wins",
        ),
        pytest.param(
            {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"},
            "http://lower:1",
            None,
            id="lower-case-wins-in-any-order",
        ),
        pytest.param(
            {"HTTP_PROXY": "http://upper:1", "http_proxy": ""},
            None,
            None,
            id="an-empty-lower-case-value-unsets",
        ),
        pytest.param({"http_proxy": "h:3128"}, "http://h:3128", None, id="scheme-less-is-http"),
        pytest.param({"http_proxy": ""}, None, None, id="empty-is-unset"),
        pytest.param(
            {"HTTP_PROXY": "http://h:1", "REQUEST_METHOD": "GET"}, None, None, id="httpoxy"
        ),
        pytest.param(
            {"http_proxy": "http://h:1", "REQUEST_METHOD": "GET"},
            "http://h:1",
            None,
            id="httpoxy-spares-the-lower-case-name",
        ),
        pytest.param({"REQUEST_METHOD": "GET"}, None, None, id="httpoxy-without-http-proxy"),
        *[
            pytest.param(
                {"all_proxy": "http://a:1", "no_proxy": no_proxy}, None, None, id=f"no-{no_proxy}"
            )
            for no_proxy in (
                "*",
                "example.com",
                ".example.com",
                "feed.example.com",
                "x, example.com",
            )
        ],
        pytest.param(
            {"all_proxy": "http://a:1", "no_proxy": "other.com,ample.com"},
            "http://a:1",
            "http://a:1",
            id="no-proxy-is-a-domain-suffix-not-a-string-suffix",
        ),
        pytest.param(
            {"all_proxy": "http://a:1", "no_proxy": "[feed.example.com]"},
            "http://a:1",
            "http://a:1",
            id="brackets-are-for-ipv6-only",
        ),
        pytest.param(
            {"all_proxy": "http://a:1", "no_proxy": "feed.example.com:8080"},
            None,
            "http://a:1",
            id="no-proxy-with-a-port",
        ),
    ],
)
def test_the_environment_decides(
    environ: dict[str, str], for_ws: str | None, for_wss: str | None
) -> None:
    assert chosen(WS, environ) == for_ws
    assert chosen(WSS, environ) == for_wss


def test_an_explicit_proxy_or_none_overrides_the_environment() -> None:
    environ = {"all_proxy": "http://a:1"}
    assert chosen(WS, environ, proxy=None) is None
    assert chosen(WSS, environ, proxy="socks5://b:2") == "socks5://b:2"


@pytest.mark.parametrize("no_proxy", ["::1", "[::1]", "[::1]:8080"])
def test_no_proxy_matches_an_ipv6_target_with_or_without_brackets(no_proxy: str) -> None:
    target = parse_url("ws://[::1]:8080/")
    assert choose_proxy(target, ENVIRONMENT, {"all_proxy": "http://a:1"}) is not None
    assert (
        choose_proxy(target, ENVIRONMENT, {"all_proxy": "http://a:1", "no_proxy": no_proxy}) is None
    )


def test_environment_proxies_reads_like_the_stdlib() -> None:
    assert environment_proxies({"No_Proxy": "x", "FTP_PROXY": "f", "PATH": "/bin"}) == {
        "no": "x",
        "ftp": "f",
    }


@pytest.mark.parametrize(
    ("url", "kind", "port", "remote_dns", "tls"),
    [
        ("http://p", "http", 80, True, False),
        ("https://p", "http", 443, True, True),
        ("socks5://p", "socks5", 1080, False, False),
        ("SOCKS5H://p:9050/", "socks5", 9050, True, False),
        ("socks4://p", "socks4", 1080, False, False),
        ("socks4a://user@p", "socks4", 1080, True, False),
    ],
)
def test_proxy_urls(url: str, kind: str, port: int, remote_dns: bool, tls: bool) -> None:
    proxy = parse_proxy_url(url)
    assert (proxy.kind, proxy.port, proxy.remote_dns, proxy.tls) == (kind, port, remote_dns, tls)


def test_credentials_are_decoded_and_never_shown() -> None:
    proxy = parse_proxy_url("http://al%40ice:p%3Ass@proxy:3128")
    assert (proxy.username, proxy.password) == ("al@ice", "p:ss")
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy", 3128)
    assert proxy.redacted == "http://***@proxy:3128"
    plain = parse_proxy_url("socks5://proxy:1080")
    assert (plain.username, plain.password, plain.redacted) == (None, None, "socks5://proxy:1080")
    assert "ice" not in repr(proxy) and "p:ss" not in repr(proxy)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (8080, "proxy: must be a proxy URL str or None, got int"),
        (
            "ftp://u:secret@p:21",
            "proxy: unsupported proxy scheme in 'ftp://***@p:21' (use http, https, socks4, "
            "socks4a, socks5 or socks5h)",
        ),
        ("p:3128", "proxy: unsupported proxy scheme"),
        ("http://", "proxy: 'http://' has no host"),
        ("http://p:0", "proxy: port 0 cannot be connected to"),
        (
            "http://u:secret@p:99999",
            "proxy: 'http://***@p:99999' is malformed: the port is not a number from 0 to "
            "65535, or it does not parse",
        ),
        ("http://u:se/secret@p:1", "proxy: 'http://***@p:1' is malformed"),
        ("http://p:1/path", "proxy: a proxy URL is scheme://host:port only"),
        ("http://p:1?q=1", "proxy: a proxy URL is scheme://host:port only, got 'http://p:1?q=1'"),
        ("http://p:1#f", "proxy: a proxy URL is scheme://host:port only, got 'http://p:1#f'"),
        ("http://a%3Ab:secret@p", "proxy: the proxy user name must not contain ':' (RFC 7617)"),
        ("http://u@p", "proxy: the proxy's userinfo needs a user name and a password"),
        ("socks5://u:é@p", "proxy: SOCKS5 user names and passwords must be ASCII"),
        ("socks5://u:" + "x" * 256 + "@p", "proxy: SOCKS5 user names and passwords are at most"),
        ("socks5://" + "x" * 256 + ":p@p", "proxy: SOCKS5 user names and passwords are at most"),
        ("socks4://u:secret@p", "proxy: a SOCKS4 proxy takes a user id only"),
        ("http://u:€@p", "proxy: HTTP proxy credentials must be Latin-1"),
    ],
)
def test_bad_proxy_urls_are_config_errors(url: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_proxy_url(url)
    assert str(raised.value).startswith(message)
    assert "secret" not in str(raised.value)


def test_socks5_credentials_of_255_bytes_are_accepted() -> None:
    proxy = parse_proxy_url(f"socks5://{'u' * 255}:{'p' * 255}@proxy")
    assert proxy.username == "u" * 255 and proxy.password == "p" * 255


def test_a_bad_environment_proxy_names_its_variable() -> None:
    with pytest.raises(ConfigError, match=r"^proxy: the all_proxy environment variable: "):
        choose_proxy(WS, ENVIRONMENT, {"ALL_PROXY": "gopher://p"})
    with pytest.raises(ConfigError, match=r"^proxy: the https_proxy environment variable: "):
        choose_proxy(WSS, ENVIRONMENT, {"HTTPS_PROXY": "gopher://p"})
    assert choose_proxy(WS, ENVIRONMENT, {"HTTPS_PROXY": "gopher://p"}) is None
