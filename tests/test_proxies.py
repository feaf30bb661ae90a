"""Proxies over real 127.0.0.1 sockets: pproxy (a real HTTP CONNECT and SOCKS5 proxy, a
subprocess per test) between tether and a trio-websocket echo server, ``ws://`` and
``wss://`` (trustme certificates), with and without authentication; a proxy that is
down, that refuses the credentials, that dies mid-session; and the environment
(``http_proxy``, ``no_proxy``) deciding by default.

pproxy is started as ``python -u -m pproxy -l URI -v --auth 0``: ``URI`` is
``http://127.0.0.1:PORT`` or ``socks5://127.0.0.1:PORT``, with ``#user:password`` for
authentication; ``-v`` prints one line per tunnel (``socks5 127.0.0.1:50000 ->
localhost:8443``), which the tests read to prove the connection went through it;
``--auth 0`` makes it ask for the credentials on every connection (by default it
remembers an address that authenticated once).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest
import trio
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether import Backoff, Config, events

from .cli.support import run_tether

pytestmark = pytest.mark.loopback

CONFIG = Config(
    ping_interval=0.5,
    ping_timeout=0.5,
    connect_timeout=3,
    close_timeout=1,
    backoff=Backoff(initial=0.05, maximum=0.2),
)
USER, PASSWORD = "alice", "s3cret-pw"
#: pproxy's startup, well above what it takes (about 0.3 s).
START_LIMIT = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define(eq=False)
class Pproxy:
    """One pproxy process listening on 127.0.0.1:``port``; restartable on that port."""

    nursery: trio.Nursery
    scheme: str
    auth: bool
    port: int = attrs.Factory(free_port)
    #: For an https:// proxy: its certificate chain and key (PEM files).
    tls_files: tuple[Path, Path] | None = None
    output: bytearray = attrs.Factory(bytearray)
    process: trio.Process | None = None
    _changed: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)

    def url(self, user: str = USER, password: str = PASSWORD, scheme: str | None = None) -> str:
        userinfo = f"{user}:{password}@" if self.auth else ""
        return f"{scheme or self.scheme}://{userinfo}127.0.0.1:{self.port}"

    async def start(self) -> None:
        scheme = "http+ssl" if self.tls_files is not None else self.scheme
        listen = f"{scheme}://127.0.0.1:{self.port}"
        if self.auth:
            listen += f"#{USER}:{PASSWORD}"
        command = [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v", "--auth", "0"]
        if self.tls_files is not None:
            command += ["--ssl", ",".join(map(str, self.tls_files))]
        self.process = process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.nursery.start_soon(self._drain, process)
        with trio.fail_after(START_LIMIT):
            await self.wait_for_output(b"Serving on")

    async def _drain(self, process: trio.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.receive_some():
            self.output += chunk
            self._changed.unpark_all()

    async def wait_for_output(self, text: bytes) -> None:
        while text not in self.output:
            await self._changed.park()

    async def seen(self, text: bytes) -> None:
        """Wait (briefly: its output is read by another task) until it printed ``text``."""
        with trio.fail_after(START_LIMIT):
            await self.wait_for_output(text)

    async def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            with trio.fail_after(START_LIMIT):
                await self.process.wait()
            self.process = None


@pytest.fixture
async def proxies(nursery: trio.Nursery) -> AsyncIterator[Callable[..., Awaitable[Pproxy]]]:
    started: list[Pproxy] = []

    async def make(
        scheme: str,
        *,
        auth: bool = False,
        start: bool = True,
        tls_files: tuple[Path, Path] | None = None,
    ) -> Pproxy:
        proxy = Pproxy(nursery, scheme, auth, tls_files=tls_files)
        started.append(proxy)
        if start:
            await proxy.start()
        return proxy

    yield make
    for proxy in started:
        await proxy.stop()


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def start_target(nursery: trio.Nursery, ca: trustme.CA, *, tls: bool, name: str) -> str:
    """An echo server on 127.0.0.1; with ``tls``, its certificate names ``name`` only."""
    server_context = None
    if tls:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(server_context)
    server = await nursery.start(serve_websocket, echo, "127.0.0.1", 0, server_context)
    return f"{'wss' if tls else 'ws'}://localhost:{server.port}/"


class Attempts:
    def __init__(self) -> None:
        self.connecting = 0
        self.events: list[events.Event] = []
        self.changed = trio.lowlevel.ParkingLot()

    def __call__(self, event: events.Event) -> None:
        self.events.append(event)
        self.connecting += isinstance(event, events.Connecting)
        self.changed.unpark_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.changed.park()

    def of(self, kind: type[events.Event]) -> list[events.Event]:
        return [event for event in self.events if isinstance(event, kind)]


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth"])
@pytest.mark.parametrize(
    ("listen", "scheme"),
    [("http", "http"), ("socks5", "socks5"), ("socks5", "socks5h")],
)
async def test_a_session_goes_through_the_proxy(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    client_context: ssl.SSLContext,
    listen: str,
    scheme: str,
    auth: bool,
    tls: bool,
) -> None:
    proxy = await proxies(listen, auth=auth)
    url = await start_target(nursery, ca, tls=tls, name="localhost")
    with trio.fail_after(10):
        async with tether.connect(
            url, config=CONFIG, proxy=proxy.url(scheme=scheme), ssl_context=client_context
        ) as session:
            await session.send("through the proxy")
            assert await session.receive() == "through the proxy"
    port = url.rsplit(":", 1)[1].rstrip("/")
    # socks5h and HTTP CONNECT pass the name to the proxy; socks5 resolves it here first.
    by_name, by_address = f"-> localhost:{port}".encode(), f"-> 127.0.0.1:{port}".encode()
    if scheme == "socks5":
        by_name, by_address = by_address, by_name
    await proxy.seen(by_name)
    assert by_address not in proxy.output


async def test_wss_through_an_https_proxy_is_tls_inside_tls(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    client_context: ssl.SSLContext,
    tmp_path: Path,
) -> None:
    chain, key = tmp_path / "proxy-chain.pem", tmp_path / "proxy-key.pem"
    proxy_cert = ca.issue_cert("127.0.0.1")
    proxy_cert.private_key_pem.write_to_path(str(key))
    for blob in proxy_cert.cert_chain_pems:
        blob.write_to_path(str(chain), append=True)
    proxy = await proxies("http", auth=True, tls_files=(chain, key))
    url = await start_target(nursery, ca, tls=True, name="localhost")
    with trio.fail_after(10):
        async with tether.connect(
            url, config=CONFIG, proxy=proxy.url(scheme="https"), ssl_context=client_context
        ) as session:
            await session.send("tls in tls")
            assert await session.receive() == "tls in tls"
    await proxy.seen(b"-> localhost:")
    assert b"by http(SSL)" in proxy.output


async def test_wss_through_a_tunnel_checks_the_target_certificate(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    client_context: ssl.SSLContext,
) -> None:
    proxy = await proxies("http")
    url = await start_target(nursery, ca, tls=True, name="other.example")
    attempts = Attempts()
    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            url, config=CONFIG, proxy=proxy.url(), ssl_context=client_context, on_event=attempts
        ):
            pass
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    assert "localhost" in str(raised.value.__cause__)
    assert attempts.connecting == 1


@pytest.mark.parametrize("listen", ["http", "socks5"])
async def test_wrong_proxy_credentials_are_fatal_after_one_attempt(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    listen: str,
) -> None:
    proxy = await proxies(listen, auth=True)
    url = await start_target(nursery, ca, tls=False, name="localhost")
    attempts = Attempts()
    with trio.fail_after(10), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            url, config=CONFIG, proxy=proxy.url(password="wrong-pw"), on_event=attempts
        ):
            pass
    error = raised.value.__cause__
    assert isinstance(error, tether.ProxyAuthenticationError)
    assert error.kind == listen and error.proxy == f"{listen}://***@127.0.0.1:{proxy.port}"
    if listen == "http":
        assert error.code == 407
    assert attempts.connecting == 1
    shown = [str(raised.value), repr(raised.value), repr(error), *map(repr, attempts.events)]
    assert not any("wrong-pw" in text or USER in text for text in shown)


async def test_a_proxy_that_is_down_is_retried_until_it_is_up(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
) -> None:
    proxy = await proxies("socks5", auth=True, start=False)
    url = await start_target(nursery, ca, tls=False, name="localhost")
    attempts = Attempts()
    backoff = Config(connect_timeout=3, backoff=Backoff(initial=0.05, maximum=0.1))
    with trio.fail_after(15):
        async with trio.open_nursery() as inner:

            async def start_when_refused() -> None:
                await attempts.wait_for(lambda: len(attempts.of(events.BackingOff)) >= 2)
                await proxy.start()

            inner.start_soon(start_when_refused)
            async with tether.connect(
                url, config=backoff, proxy=proxy.url(), on_event=attempts
            ) as session:
                await session.send("late")
                assert await session.receive() == "late"
    refused = attempts.of(events.BackingOff)[0]
    assert isinstance(refused, events.BackingOff)
    error = refused.error
    assert isinstance(error, tether.ProxyError) and not isinstance(
        error, tether.ProxyAuthenticationError
    )
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert "unreachable" in str(error) and PASSWORD not in str(error)


async def test_a_proxy_that_dies_mid_session_is_reconnected_through(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    client_context: ssl.SSLContext,
) -> None:
    proxy = await proxies("http", auth=True)
    url = await start_target(nursery, ca, tls=True, name="localhost")
    attempts = Attempts()
    with trio.fail_after(15):
        async with tether.connect(
            url, config=CONFIG, proxy=proxy.url(), ssl_context=client_context, on_event=attempts
        ) as session:
            await session.send("one")
            assert await session.receive() == "one"
            await proxy.stop()  # the tunnel dies with it
            await attempts.wait_for(lambda: bool(attempts.of(events.ConnectionLost)))
            await proxy.start()
            await session.send("two")
            assert await session.receive() == "two"
    connected = attempts.of(events.Connected)
    assert [event.generation for event in connected] == [1, 2]


# ------------------------------------------------- proxies written for one behaviour


async def start_fake_proxy(
    nursery: trio.Nursery, answer: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    """A one-purpose HTTP proxy on 127.0.0.1: reads each CONNECT request, then lets
    ``answer`` have the stream."""

    async def handle(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some()
            if not chunk:
                return
            request += chunk
        await answer(stream)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handle, 0)
    return int(listeners[0].socket.getsockname()[1])


async def test_connect_timeout_bounds_the_proxy_handshake(nursery: trio.Nursery) -> None:
    async def never_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    port = await start_fake_proxy(nursery, never_answer)
    config = Config(connect_timeout=0.3, max_attempts=2, backoff=Backoff(initial=0.01))
    attempts = Attempts()
    started = trio.current_time()
    with trio.fail_after(5), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(
            "ws://localhost:1/", config=config, proxy=f"http://127.0.0.1:{port}", on_event=attempts
        ):
            pass
    assert isinstance(raised.value.__cause__, TimeoutError)
    assert attempts.connecting == 2
    assert trio.current_time() - started < 2  # not python-socks' own 60 s


async def test_an_http_proxy_answer_in_two_segments_is_read_whole(
    nursery: trio.Nursery, ca: trustme.CA
) -> None:
    url = await start_target(nursery, ca, tls=False, name="localhost")
    target_port = int(url.rsplit(":", 1)[1].rstrip("/"))

    async def answer_in_two_segments(stream: trio.SocketStream) -> None:
        await stream.send_all(b"HTTP/1.1 200 Connection established\r\n")
        await trio.sleep(0.05)  # makes a second segment; the test passes either way
        await stream.send_all(b"Via: 1.1 fake\r\n\r\n")
        target = await trio.open_tcp_stream("127.0.0.1", target_port)
        async with trio.open_nursery() as splice:
            for source, sink in ((stream, target), (target, stream)):
                splice.start_soon(pump, source, sink, splice.cancel_scope)

    port = await start_fake_proxy(nursery, answer_in_two_segments)
    attempts = Attempts()
    with trio.fail_after(5):
        async with tether.connect(
            url, config=CONFIG, proxy=f"http://127.0.0.1:{port}", on_event=attempts
        ) as session:
            await session.send("whole")
            assert await session.receive() == "whole"
    assert attempts.connecting == 1


async def pump(source: trio.abc.Stream, sink: trio.abc.Stream, done: trio.CancelScope) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await source.receive_some():
            await sink.send_all(data)
    done.cancel()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without ``*_proxy`` variables (tests/conftest.py removes them for
    every test), to set some."""
    return monkeypatch


async def test_the_environment_proxy_is_used_by_default(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    clean_environment: pytest.MonkeyPatch,
) -> None:
    proxy = await proxies("http", auth=True)
    url = await start_target(nursery, ca, tls=False, name="localhost")
    clean_environment.setenv("HTTP_PROXY", proxy.url())
    with trio.fail_after(10):
        async with tether.connect(url, config=CONFIG) as session:
            await session.send("from the environment")
            assert await session.receive() == "from the environment"
    await proxy.seen(b"-> localhost:")


async def test_no_proxy_bypasses_the_environment_proxy(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    clean_environment: pytest.MonkeyPatch,
) -> None:
    proxy = await proxies("http")
    url = await start_target(nursery, ca, tls=False, name="localhost")
    port = url.rsplit(":", 1)[1].rstrip("/")
    clean_environment.setenv("http_proxy", proxy.url())
    clean_environment.setenv("NO_PROXY", "example.com, .localhost")
    with trio.fail_after(10):
        for target in (url, f"ws://127.0.0.1:{port}/"):  # the first bypassed, not the second
            async with tether.connect(target, config=CONFIG) as session:
                await session.send("hello")
                assert await session.receive() == "hello"
        await proxy.wait_for_output(f"-> 127.0.0.1:{port}".encode())
    assert b"-> localhost:" not in proxy.output


async def test_each_url_of_a_failover_list_takes_its_own_proxy(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    clean_environment: pytest.MonkeyPatch,
) -> None:
    proxy = await proxies("http")
    url = await start_target(nursery, ca, tls=False, name="localhost")
    dead = free_port()
    clean_environment.setenv("http_proxy", proxy.url())
    clean_environment.setenv("no_proxy", "localhost")
    attempts = Attempts()
    with trio.fail_after(10):
        # The first through the proxy (which cannot reach it), the second direct.
        async with tether.connect(
            [f"ws://127.0.0.1:{dead}/", url], config=CONFIG, on_event=attempts
        ) as session:
            await session.send("failed over")
            assert await session.receive() == "failed over"
    await proxy.seen(f"-> 127.0.0.1:{dead}".encode())
    assert b"-> localhost" not in proxy.output
    [connected] = attempts.of(events.Connected)
    assert isinstance(connected, events.Connected) and connected.url == url


async def test_proxy_none_ignores_the_environment(
    nursery: trio.Nursery,
    ca: trustme.CA,
    clean_environment: pytest.MonkeyPatch,
) -> None:
    url = await start_target(nursery, ca, tls=False, name="localhost")
    dead = free_port()  # nothing listens: through it, every attempt would be refused
    clean_environment.setenv("http_proxy", f"http://{USER}:{PASSWORD}@127.0.0.1:{dead}")
    clean_environment.setenv("ALL_PROXY", f"socks5://127.0.0.1:{dead}")
    attempts = Attempts()
    with trio.fail_after(10):
        async with tether.connect(url, config=CONFIG, on_event=attempts, proxy=None) as session:
            await session.send("direct")
            assert await session.receive() == "direct"
    assert attempts.connecting == 1


async def test_a_bad_proxy_fails_before_any_io(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    def opener_called(host: str, port: int, tls: bool) -> trio.abc.Stream:
        raise AssertionError("no I/O before the arguments are checked")

    with pytest.raises(tether.ConfigError, match=r"^proxy: unsupported proxy scheme"):
        async with tether.connect("ws://localhost:1/", proxy="ftp://u:p@proxy:21"):
            pass
    clean_environment.setenv("HTTPS_PROXY", "socks5://user:hunter2@proxy:99999")
    with pytest.raises(tether.ConfigError, match=r"^proxy: the https_proxy environment") as e:
        async with tether.connect("wss://localhost:1/"):
            pass
    assert "hunter2" not in str(e.value) and e.value.__context__ is None
    with pytest.raises(tether.ConfigError, match=r"^proxy: applies to the default opener"):
        async with tether.connect(
            "ws://localhost:1/", opener=opener_called, proxy="http://proxy:3128"
        ):
            pass


# ------------------------------------------------------------------ tether connect


async def test_tether_connect_proxy_option_and_config_file(
    proxies: Callable[..., Awaitable[Pproxy]],
    nursery: trio.Nursery,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    proxy = await proxies("socks5", auth=True)
    url = await start_target(nursery, ca, tls=False, name="localhost")
    port = url.rsplit(":", 1)[1].rstrip("/")
    result = await run_tether(
        "connect", url, "--proxy", proxy.url(scheme="socks5h"), "--wait", "0.5", stdin=b"hi\n"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"hi\n"
    await proxy.seen(f"-> localhost:{port}".encode())
    assert PASSWORD.encode() not in result.stderr
    config = tmp_path / "proxied.toml"
    config.write_text(f'[connect]\nurl = "ws://127.0.0.1:{port}/"\nproxy = "{proxy.url()}"\n')
    result = await run_tether("connect", "--config", str(config), "--wait", "0.5", stdin=b"a\n")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"a\n"
    await proxy.seen(f"-> 127.0.0.1:{port}".encode())


async def test_tether_connect_no_proxy_and_bad_proxies(
    nursery: trio.Nursery,
    ca: trustme.CA,
    clean_environment: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url = await start_target(nursery, ca, tls=False, name="localhost")
    clean_environment.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # down
    result = await run_tether("connect", url, "--no-proxy", "--wait", "0.5", stdin=b"hi\n")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"hi\n"
    result = await run_tether("connect", url, "--proxy", "gopher://u:hunter2@proxy:70")
    assert result.returncode == 2
    assert b"proxy: unsupported proxy scheme" in result.stderr
    config = tmp_path / "bad.toml"
    config.write_text('[connect]\nproxy = "socks5://u:hunter2@proxy:0"\n')
    result = await run_tether("connect", url, "--config", str(config))
    assert result.returncode == 2
    assert b"connect.proxy: port 0 cannot be connected to" in result.stderr
    assert b"hunter2" not in result.stderr


def test_tcp_opener_takes_a_proxy_url_and_hides_its_credentials() -> None:
    opener = tether.TcpOpener(proxy=f"socks5h://{USER}:{PASSWORD}@127.0.0.1:1080")
    assert opener.proxy is not None and opener.proxy.kind == "socks5"
    assert opener.proxy.remote_dns and opener.proxy.password == PASSWORD
    assert PASSWORD not in repr(opener) and USER not in repr(opener)
    assert "socks5h://***@127.0.0.1:1080" in repr(opener)
    with pytest.raises(tether.ConfigError, match=r"^proxy: unsupported proxy scheme"):
        tether.TcpOpener(proxy="ftp://proxy:21")
