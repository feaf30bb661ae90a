"""The README's bot example runs, unchanged, against the in-memory server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio

import tether
from tether.testing import ServerConnection, memory_server

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (bot,) = [block for block in blocks if "on_connect=subscribe" in block]
    return bot


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
