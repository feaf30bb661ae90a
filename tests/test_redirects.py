"""Issue 11 item 2: redirects of the opening handshake, on the in-memory server and
Trio's virtual clock (exact times, exact attempt and stream counts).

The memory server answers a handshake with ``server.reject(status=..., headers=...)``,
so a ``Location`` is one header away. Two servers behind one opener that dispatches on
the host make a cross-origin hop.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

import h11
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Backoff, Config, events
from tether.testing import MemoryServer, memory_server

from .helpers import EventLog

#: Three attempts at most, so that a refused redirect that were retried shows as three.
CONFIG = Config(
    ping_interval=None, max_attempts=3, backoff=Backoff(initial=1, maximum=8, jitter=False)
)


@pytest.fixture
async def server() -> AsyncIterator[MemoryServer]:
    async with memory_server() as running:
        yield running


def fatal(raised: pytest.ExceptionInfo[tether.ReconnectFailed]) -> BaseException:
    assert str(raised.value).startswith("not retrying after a fatal error: ")
    cause = raised.value.__cause__
    assert cause is not None and raised.value.last_error is cause
    return cause


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed_within_the_attempt(
    autojump_clock: trio.abc.Clock, server: MemoryServer, status: int
) -> None:
    """Before: a 3xx was a fatal HandshakeRejected. Now: one attempt, two streams, and
    Connected names where it landed (a relative Location, resolved)."""
    server.reject(status=status, headers={"Location": "../v2/feed?room=1"})
    log = EventLog()
    async with tether.connect(
        "ws://tether.test/v1/feed", config=CONFIG, opener=server.opener, on_event=log
    ) as session:
        assert trio.current_time() == 0
        await session.send("hi")
        assert await session.receive() == "hi"
    assert [r.path for r in server.connections] == ["/v1/feed", "/v2/feed?room=1"]
    assert [r.rejected_status for r in server.connections] == [status, None]
    assert [e.url for e in log.of(events.Connecting)] == ["ws://tether.test/v1/feed"]
    (connected,) = log.of(events.Connected)
    assert connected.url == "ws://tether.test/v2/feed?room=1"
    assert connected.attempt == 1


async def test_a_3xx_without_location_stays_handshake_rejected(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=302)
    with pytest.raises(tether.HandshakeRejected) as raised:
        async with tether.connect("ws://tether.test/", config=CONFIG, opener=server.opener):
            pytest.fail("must not enter")
    assert raised.value.status_code == 302
    assert len(server.connections) == 1


async def test_a_300_is_not_followed(autojump_clock: trio.abc.Clock, server: MemoryServer) -> None:
    server.reject(status=300, headers={"Location": "/elsewhere"})
    with pytest.raises(tether.HandshakeRejected) as raised:
        async with tether.connect("ws://tether.test/", config=CONFIG, opener=server.opener):
            pytest.fail("must not enter")
    assert raised.value.status_code == 300
    assert len(server.connections) == 1


async def test_the_next_attempt_starts_again_from_the_configured_url(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=307, headers={"Location": "/moved"})
    log = EventLog()
    async with tether.connect(
        "ws://tether.test/start", config=CONFIG, opener=server.opener, on_event=log
    ) as session:
        server.reject(status=307, headers={"Location": "/moved-again"})
        server.drop()
        await server.wait_connections(2)
        await session.wait_connected()
    assert [r.path for r in server.connections] == ["/start", "/moved", "/start", "/moved-again"]
    assert [e.url for e in log.of(events.Connecting)] == ["ws://tether.test/start"] * 2
    assert [e.url for e in log.of(events.Connected)] == [
        "ws://tether.test/moved",
        "ws://tether.test/moved-again",
    ]


async def test_an_http_location_is_taken_as_ws(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=308, headers={"Location": "https://tether.test/secure"})
    log = EventLog()
    async with tether.connect(
        "wss://tether.test/", config=CONFIG, opener=server.opener, on_event=log
    ):
        pass
    assert [(r.host, r.port, r.path) for r in server.connections] == [
        ("tether.test", 443, "/"),
        ("tether.test", 443, "/secure"),
    ]
    assert log.of(events.Connected)[0].url == "wss://tether.test/secure"


# ----------------------------------------------------------------- credentials


class TwoOrigins:
    """One opener for two in-memory servers: ``a.test`` (port 80) and anything else."""

    def __init__(self, a: MemoryServer, b: MemoryServer) -> None:
        self.a, self.b = a, b

    async def opener(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        target = self.a if (host, port) == ("a.test", 80) else self.b
        return await target.opener(host, port, tls)


SECRET_HEADERS = {"Authorization": "Bearer s3cret", "Cookie": "session=s3cret", "X-Trace": "1"}


async def test_a_cross_origin_hop_sends_no_authorization_or_cookie(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as a, memory_server() as b:
        a.reject(status=302, headers={"Location": "ws://b.test/landed"})
        origins = TwoOrigins(a, b)
        async with tether.connect(
            "ws://a.test/", config=CONFIG, opener=origins.opener, headers=SECRET_HEADERS
        ):
            pass
        assert a.connections[0].headers["authorization"] == "Bearer s3cret"
        assert a.connections[0].headers["cookie"] == "session=s3cret"
        (landed,) = b.connections
        assert landed.path == "/landed"
        assert "authorization" not in landed.headers
        assert "cookie" not in landed.headers
        assert landed.headers["x-trace"] == "1"


async def test_a_cross_origin_hop_drops_the_userinfo_authorization(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as a, memory_server() as b:
        a.reject(status=301, headers={"Location": "ws://a.test:8080/"})  # port differs
        origins = TwoOrigins(a, b)
        log = EventLog()
        async with tether.connect(
            "ws://alice:pw@a.test/", config=CONFIG, opener=origins.opener, on_event=log
        ):
            pass
        assert a.connections[0].headers["authorization"].startswith("Basic ")
        (landed,) = b.connections
        assert (landed.host, landed.port) == ("a.test", 8080)
        assert "authorization" not in landed.headers
        assert log.of(events.Connected)[0].url == "ws://a.test:8080/"


async def test_credentials_stay_dropped_when_a_later_hop_comes_back(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with memory_server() as a, memory_server() as b:
        a.reject(status=302, headers={"Location": "ws://b.test/"})
        b.reject(status=302, headers={"Location": "ws://a.test/back"})
        origins = TwoOrigins(a, b)
        async with tether.connect(
            "ws://a.test/", config=CONFIG, opener=origins.opener, headers=SECRET_HEADERS
        ):
            pass
        first, back = a.connections
        assert first.headers["authorization"] == "Bearer s3cret"
        assert back.path == "/back"
        assert "authorization" not in back.headers and "cookie" not in back.headers


async def test_a_same_origin_hop_keeps_the_credentials(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=307, headers={"Location": "/inner"})
    async with tether.connect(
        "ws://alice:pw@tether.test/",
        config=CONFIG,
        opener=server.opener,
        headers={"Cookie": "session=s3cret"},
    ):
        pass
    first, landed = server.connections
    assert landed.path == "/inner"
    assert landed.headers["authorization"] == first.headers["authorization"]
    assert landed.headers["authorization"].startswith("Basic ")
    assert landed.headers["cookie"] == "session=s3cret"


# ----------------------------------------------------------------- refused redirects


async def test_a_wss_to_ws_downgrade_is_fatal_after_exactly_one_attempt(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    """Before: a fatal HandshakeRejected 302 that gave no reason. Now: RedirectError
    naming the downgrade, one attempt, one stream (the ws:// URL is never asked)."""
    server.reject(n=3, status=302, headers={"Location": "ws://tether.test/plain?token=t0k"})
    log = EventLog()
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            "wss://tether.test/?token=t0k", config=CONFIG, opener=server.opener, on_event=log
        ):
            pytest.fail("must not enter")
    cause = fatal(raised)
    assert isinstance(cause, tether.RedirectError)
    assert str(cause) == (
        "refusing a redirect from wss:// to ws:// (a TLS downgrade): "
        "wss://tether.test/?token=*** -> ws://tether.test/plain?token=***"
    )
    assert cause.hops == ("wss://tether.test/?token=***", "ws://tether.test/plain?token=***")
    assert len(log.of(events.Connecting)) == 1
    assert len(server.connections) == 1
    assert trio.current_time() == 0
    assert "t0k" not in repr(log.items) and "t0k" not in str(raised.value)


async def test_the_eleventh_redirect_is_refused_naming_the_hops(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    for hop in range(1, 12):
        server.reject(status=302, headers={"Location": f"/{hop}"})
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect("ws://tether.test/0", config=CONFIG, opener=server.opener):
            pytest.fail("must not enter")
    cause = fatal(raised)
    assert isinstance(cause, tether.RedirectError)
    hops = tuple(f"ws://tether.test/{n}" for n in range(12))
    assert cause.hops == hops
    assert str(cause) == "more than 10 redirects: " + " -> ".join(hops)
    # Ten redirects followed: the configured URL and ten hops were asked; /11 was not.
    assert [r.path for r in server.connections] == [f"/{n}" for n in range(11)]


async def test_ten_redirects_are_followed(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    for hop in range(1, 11):
        server.reject(status=302, headers={"Location": f"/{hop}"})
    log = EventLog()
    async with tether.connect(
        "ws://tether.test/0", config=CONFIG, opener=server.opener, on_event=log
    ):
        pass
    assert len(server.connections) == 11
    assert log.of(events.Connected)[0].url == "ws://tether.test/10"


async def test_a_redirect_loop_is_refused_at_once(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=302, headers={"Location": "/b"})
    server.reject(n=20, status=302, headers={"Location": "/a"})
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect("ws://tether.test/a", config=CONFIG, opener=server.opener):
            pytest.fail("must not enter")
    cause = fatal(raised)
    assert isinstance(cause, tether.RedirectError)
    assert (
        str(cause)
        == "redirect loop: ws://tether.test/a -> ws://tether.test/b -> ws://tether.test/a"
    )
    assert len(server.connections) == 2


async def test_a_location_that_is_no_websocket_url_is_refused(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    server.reject(status=301, headers={"Location": "ftp://tether.test/file"})
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect("ws://tether.test/", config=CONFIG, opener=server.opener):
            pytest.fail("must not enter")
    cause = fatal(raised)
    assert isinstance(cause, tether.RedirectError)
    assert str(cause) == (
        "cannot follow the redirect: scheme must be ws:// or wss://, got "
        "'ftp://tether.test/file': ws://tether.test/ -> ftp://tether.test/file"
    )
    assert len(server.connections) == 1


async def test_every_hop_is_within_the_one_connect_timeout(
    autojump_clock: trio.abc.Clock, server: MemoryServer
) -> None:
    """A handshake takes 0.6 s here (0.3 s each way): the second hop would end at 1.2 s,
    past the attempt's 1 s, so the attempt times out at exactly 1 s, naming the URL it
    was at; the retry (at 2 s: one backoff step of 1 s) is redirected again and times
    out at 3 s. (The server takes the second hop's request at 0.9 s and rejects
    it; the third rejection answers the retry's first hop.)"""
    server.slow(0.3)
    server.reject(n=3, status=307, headers={"Location": "/slow"})
    config = Config(
        ping_interval=None,
        connect_timeout=1,
        max_attempts=2,
        backoff=Backoff(initial=1, jitter=False),
    )
    log = EventLog()
    with pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            "ws://tether.test/", config=config, opener=server.opener, on_event=log
        ):
            pytest.fail("must not enter")
    assert [e.at for e in log.of(events.Connecting)] == [0, 2]
    assert trio.current_time() == 3
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert (
        str(raised.value.__cause__) == "connect attempt timed out after 1 s (ws://tether.test/slow)"
    )
    assert [r.path for r in server.connections] == ["/", "/slow", "/", "/slow"]


# ----------------------------------------------------------------- over real sockets


async def _redirecting_server(
    nursery: trio.Nursery, status: int, location: str, asked: list[dict[str, str]]
) -> int:
    """A plain HTTP server on 127.0.0.1 (trio + h11) that answers every request with
    ``status`` and ``Location: location``, recording the request headers."""

    async def answer(stream: trio.SocketStream) -> None:
        connection = h11.Connection(h11.SERVER)
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await stream.receive_some(65536))
                continue
            assert isinstance(event, h11.Request)
            asked.append({n.decode().lower(): v.decode() for n, v in event.headers})
            break
        response = h11.Response(
            status_code=status,
            headers=[("Location", location), ("Content-Length", "0"), ("Connection", "close")],
        )
        await stream.send_all(connection.send(response) + connection.send(h11.EndOfMessage()))
        await stream.aclose()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, answer, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


@pytest.mark.loopback
async def test_a_loopback_redirect_to_another_port_lands_without_credentials(
    nursery: trio.Nursery,
) -> None:
    """The default opener over real TCP: a 307 from an HTTP server (h11) to a
    trio-websocket server on another port (another origin): one attempt, two streams,
    and the second server sees no Authorization and no Cookie."""
    landed_headers: list[dict[str, str]] = []

    async def echo(request: WebSocketRequest) -> None:
        landed_headers.append({n.decode().lower(): v.decode() for n, v in request.headers})
        ws = await request.accept()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send_message(await ws.get_message())

    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, None)
    asked: list[dict[str, str]] = []
    port = await _redirecting_server(nursery, 307, f"ws://127.0.0.1:{server.port}/feed", asked)
    log = EventLog()
    config = Config(ping_interval=None, connect_timeout=5, max_attempts=1)
    with trio.fail_after(10):
        async with tether.connect(
            f"ws://alice:pw@127.0.0.1:{port}/",
            config=config,
            headers={"Cookie": "session=s3cret"},
            on_event=log,
        ) as session:
            await session.send("landed")
            assert await session.receive() == "landed"
    (first,) = asked
    assert first["authorization"].startswith("Basic ") and first["cookie"] == "session=s3cret"
    (landed,) = landed_headers
    assert "authorization" not in landed and "cookie" not in landed
    assert landed["user-agent"] == tether.policy.DEFAULT_USER_AGENT
    assert len(log.of(events.Connecting)) == 1
    assert log.of(events.Connected)[0].url == f"ws://127.0.0.1:{server.port}/feed"
