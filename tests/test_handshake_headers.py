"""Issue 11 item 3: the handshake headers people expect, as the server sees them: a
default ``User-Agent`` (overridable, removable) and ``origin=``. ``server_hostname=``
is over real TLS in ``tests/test_transport.py``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest
import trio

import tether
from tether import Config
from tether.testing import MemoryServer, memory_server

CONFIG = Config(ping_interval=None, max_attempts=1)
URL = "ws://tether.test/"
DEFAULT = f"trio-tether/{tether.__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
async def server() -> AsyncIterator[MemoryServer]:
    async with memory_server() as running:
        yield running


async def test_the_default_user_agent_names_tether_and_python(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    async with tether.connect(URL, config=CONFIG, opener=server.opener):
        pass
    assert server.connections[0].headers["user-agent"] == DEFAULT
    assert tether.policy.DEFAULT_USER_AGENT == DEFAULT


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"user_agent": "feed-reader/2.1"}, "feed-reader/2.1"),
        ({"headers": {"user-agent": "mine/1"}}, "mine/1"),
        ({"headers": {"User-Agent": "mine/1"}, "user_agent": "theirs/2"}, "mine/1"),
        ({"user_agent": None}, None),
    ],
    ids=["argument", "headers", "headers-win", "none"],
)
async def test_the_user_agent_can_be_replaced_or_removed(
    autojump_clock: trio.abc.Clock,
    server: MemoryServer,
    kwargs: dict[str, object],
    expected: str | None,
) -> None:
    async with tether.connect(URL, config=CONFIG, opener=server.opener, **kwargs):  # type: ignore[arg-type]
        pass
    assert server.connections[0].headers.get("user-agent") == expected


async def test_origin_is_sent_and_headers_win(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    async with tether.connect(
        URL, config=CONFIG, opener=server.opener, origin="https://app.example:8443"
    ):
        pass
    async with tether.connect(URL, config=CONFIG, opener=server.opener):
        pass
    async with tether.connect(
        URL,
        config=CONFIG,
        opener=server.opener,
        origin="https://app.example",
        headers={"Origin": "https://other.example"},
    ):
        pass
    assert [r.headers.get("origin") for r in server.connections] == [
        "https://app.example:8443",
        None,
        "https://other.example",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"origin": "https://app.example/"},
            "origin: must be a serialized origin scheme://host[:port] (RFC 6454 section 6.2), "
            "such as 'https://app.example', got 'https://app.example/' (an origin has no "
            "path: drop the trailing '/')",
        ),
        ({"origin": b"https://a"}, "origin: must be a str or None, got bytes"),
        (
            {"user_agent": "tok\n"},
            "user_agent: 'User-Agent': value has a line break (CR or LF) (RFC 9110 section 5.5)",
        ),
        ({"user_agent": 3}, "user_agent: must be a str or None, got int"),
        (
            {"server_hostname": "example.test", "opener": object.__call__},
            "server_hostname: only the default opener does TLS; with opener=, give the name "
            "to your opener (tether.TcpOpener(server_hostname=...))",
        ),
        (
            {"server_hostname": "example.test:443"},
            "server_hostname: must be a host name such as 'example.test' (no scheme, port or "
            "path), got 'example.test:443'",
        ),
    ],
    ids=["origin-path", "origin-bytes", "ua-newline", "ua-int", "sni-opener", "sni-port"],
)
async def test_bad_new_arguments_fail_before_any_io(
    server: MemoryServer, kwargs: dict[str, object], message: str
) -> None:
    if "server_hostname" not in kwargs:
        kwargs["opener"] = server.opener
    with pytest.raises(tether.ConfigError) as raised:
        async with tether.connect(URL, config=CONFIG, **kwargs):  # type: ignore[arg-type]
            pytest.fail("must not enter")
    assert str(raised.value) == message
    assert server.connections == []
