"""How ``connect()`` builds its default opener from ``proxy=`` and the environment: the
proxy is chosen for each connection's own target, so a redirect hop or a URL the
``url`` callable made gets the proxy the environment gives it, and nothing secret is
in the opener's ``repr``."""

from __future__ import annotations

import sys

import pytest
import trio
import trio.testing

from tether import TcpOpener
from tether.connection._transport import _single_cause
from tether.policy import parse_url
from tether.session import _connect
from tether.session._targets import Targets

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

ENV = {
    "http_proxy": "http://bob:hunter2@proxy.corp:3128",
    "https_proxy": "socks5h://carol:pw2@socks.corp:1080",
    "no_proxy": "internal.corp",
    "AWS_SECRET_ACCESS_KEY": "AKIAsecret",
}


def build(urls: list[str], proxy: str | None, environ: dict[str, str]) -> object:
    targets = Targets([parse_url(url) for url in urls])
    return _connect._default_opener(targets, proxy, None, None, environ)


def test_direct_explicit_and_quiet_environment_are_one_tcp_opener() -> None:
    assert build(["ws://a/"], None, ENV) == TcpOpener()
    explicit = build(["ws://a/"], "socks5://u:p@s:1080", ENV)
    assert isinstance(explicit, TcpOpener) and explicit.proxy is not None
    assert explicit.proxy.host == "s"
    assert build(["ws://a/"], "environment", {"no_proxy": "*"}) == TcpOpener()


async def test_each_connection_gets_the_proxy_of_its_own_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[tuple[str, object]] = []

    class Recording:
        def __init__(self, **fields: object) -> None:
            self.proxy = fields["proxy"]

        async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
            proxy = self.proxy
            opened.append((host, None if proxy is None else proxy.host))  # type: ignore[attr-defined]
            return trio.testing.MemorySendStream()  # type: ignore[return-value]

    monkeypatch.setattr(_connect, "TcpOpener", Recording)
    opener = build(["ws://a.example/"], "environment", ENV)
    # The configured URL, a redirect hop to wss://, one to a host no_proxy exempts, and
    # a host no URL named (a redirect, or a url callable's): none is a KeyError.
    await opener("a.example", 80, False)  # type: ignore[operator]
    await opener("b.example", 443, True)  # type: ignore[operator]
    await opener("internal.corp", 80, False)  # type: ignore[operator]
    assert opened == [
        ("a.example", "proxy.corp"),
        ("b.example", "socks.corp"),
        ("internal.corp", None),
    ]


def test_the_opener_repr_holds_no_secret() -> None:
    opener = build(["ws://a/", "wss://b/"], "environment", ENV)
    assert "hunter2" not in repr(opener) and "pw2" not in repr(opener)
    assert "AKIAsecret" not in repr(opener)


def test_a_cgi_scripts_http_proxy_is_not_used() -> None:
    # Under CGI, HTTP_PROXY is set from the client's "Proxy:" header ("httpoxy"): the
    # stdlib ignores it when REQUEST_METHOD is set, and so does the default opener.
    environ = {"HTTP_PROXY": "http://evil.example:8080", "REQUEST_METHOD": "GET"}
    assert build(["ws://a/"], "environment", environ) == TcpOpener()


def _all_failed(*causes: Exception) -> OSError:
    """``trio.open_tcp_stream``'s error: one per address tried, in a group as cause."""
    error = OSError("all attempts to connect to localhost:1 failed")
    error.__cause__ = ExceptionGroup("attempts", list(causes)) if causes else None
    return error


def test_one_errno_for_every_address_is_reported_as_that_error() -> None:
    refused = ConnectionRefusedError(111, "refused (::1)")
    error = _all_failed(refused, ConnectionRefusedError(111, "refused (127.0.0.1)"))
    assert _single_cause(error) is refused
    for kept in (
        _all_failed(),  # no group behind it
        _all_failed(refused, OSError(101, "network is unreachable")),  # two errnos
        _all_failed(refused, ValueError("not an OSError")),
    ):
        assert _single_cause(kept) is kept
