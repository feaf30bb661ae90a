"""The README's code runs, unchanged: the bot against the in-memory server, the proxy
example through a SOCKS5 proxy on 127.0.0.1 (tests/test_docs_blocks.py checks that these
are all its python blocks)."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import pytest
import trio
import trustme
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import tether
from tether.testing import ServerConnection, memory_server

from .docs_blocks import ROOT, as_function, block

README = ROOT / "README.md"
BOT = "A bot that re-subscribes after every reconnect"
PROXY = "Proxies and redirects"


def readme_example() -> str:
    return block("README.md", BOT)


async def test_readme_bot_resubscribes_after_a_drop(autojump_clock: trio.abc.Clock) -> None:
    source = readme_example()
    assert len(source.strip().splitlines()) <= 20
    source = source.replace('trio.run(main, "wss://feed.example/v1")', "")
    subscriptions: list[int] = []

    async def feed(conn: ServerConnection) -> None:
        assert await conn.get_message() == '{"op": "subscribe", "channel": "trades"}'
        subscriptions.append(conn.record.id)
        await conn.send_message('{"ok": true}')
        for n in range(3):
            await conn.send_message(f"trade {conn.record.id}.{n}")
        await trio.sleep_forever()

    printed: list[str] = []
    async with memory_server(feed) as server:
        real_connect = tether.connect

        def connect_in_memory(url: str, **kwargs: Any) -> Any:
            return real_connect(url, opener=server.opener, **kwargs)

        namespace: dict[str, Any] = {"print": lambda *a: printed.append(" ".join(map(str, a)))}
        exec(compile(source, str(README), "exec"), namespace)
        namespace["tether"] = type("T", (), {**vars(tether), "connect": connect_in_memory})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(namespace["main"], "wss://feed.example/v1")
            await server.wait_connections(1)
            await trio.sleep(10)
            server.drop()
            await server.wait_connections(2)
            await trio.sleep(10)
            nursery.cancel_scope.cancel()
    assert subscriptions == [1, 2]
    assert printed == [
        'subscribed on generation 1 reply: {"ok": true}',
        "trade 1.0",
        "trade 1.1",
        "trade 1.2",
        'subscribed on generation 2 reply: {"ok": true}',
        "trade 2.0",
        "trade 2.1",
        "trade 2.2",
    ]


# ------------------------------------------------------------------ the proxy example


class Socks5h:
    """A SOCKS5 proxy on 127.0.0.1 that wants ``user:pw`` (RFC 1928, RFC 1929) and
    tunnels a CONNECT by name to ``targets[(name, port)]``; it records what was asked."""

    def __init__(self, targets: dict[tuple[str, int], int]) -> None:
        self.targets = targets
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, client: trio.SocketStream) -> None:
        buffer = bytearray()

        async def read(n: int) -> bytes:
            while len(buffer) < n:
                chunk = await client.receive_some()
                if not chunk:
                    raise EOFError
                buffer.extend(chunk)
            data = bytes(buffer[:n])
            del buffer[:n]
            return data

        async with client:
            version, count = await read(2)
            assert version == 5 and 2 in await read(count)  # offers user/password
            await client.send_all(b"\x05\x02")
            _, length = await read(2)
            user = await read(length)
            password = await read((await read(1))[0])
            ok = (user, password) == (b"user", b"pw")
            await client.send_all(b"\x01\x00" if ok else b"\x01\x01")
            assert ok
            assert await read(4) == b"\x05\x01\x00\x03"  # CONNECT to a name: socks5h
            name = (await read((await read(1))[0])).decode()
            port = int.from_bytes(await read(2), "big")
            self.asked.append((name, port))
            upstream = await trio.open_tcp_stream("127.0.0.1", self.targets[(name, port)])
            await client.send_all(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(_pipe, client, upstream)
                nursery.start_soon(_pipe, upstream, client)


async def _pipe(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    try:
        while chunk := await source.receive_some():
            await sink.send_all(chunk)
        await sink.send_eof()  # type: ignore[attr-defined]
    except (trio.BrokenResourceError, trio.ClosedResourceError, AttributeError):
        pass


@pytest.mark.loopback
async def test_readme_proxy_goes_through_socks5h(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block as written but for the proxy's port (1080 in the text, a free port
    here): the session reaches ``wss://feed.example/v1`` through the SOCKS5 proxy with
    ``user:pw``, the proxy resolving ``feed.example`` (to a TLS WebSocket server on
    127.0.0.1 whose certificate names it), and closes."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feed.example").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    monkeypatch.setattr(ssl, "create_default_context", lambda *args, **kwargs: client_context)
    paths: list[str] = []

    async def feed(request: WebSocketRequest) -> None:
        paths.append(request.path)
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        target = await nursery.start(
            functools.partial(serve_websocket, feed, "127.0.0.1", 0, ssl_context=server_context)
        )
        proxy = Socks5h({("feed.example", 443): target.port})
        (listener,) = await nursery.start(
            functools.partial(trio.serve_tcp, proxy, 0, host="127.0.0.1")
        )
        port = listener.socket.getsockname()[1]
        code = block("README.md", PROXY)
        assert code.count("127.0.0.1:1080") == 1
        code = code.replace("127.0.0.1:1080", f"127.0.0.1:{port}")
        with trio.fail_after(10):
            await as_function(code, f"README.md: {PROXY}", {"tether": tether})()
        nursery.cancel_scope.cancel()
    assert proxy.asked == [("feed.example", 443)]
    assert paths == ["/v1"]
