"""One module per benchmarked client; :data:`CLIENTS` is the registry ``bench.py`` reads.

Each module runs as its own process (``python -m clients.<module> '<params>'``) so
that trio and asyncio never share a process and memory is measured cleanly. Importing
this package imports no client library.
"""

from __future__ import annotations

from dataclasses import dataclass

THROUGHPUT = ("round_trip", "stream", "large", "idle")


@dataclass(frozen=True)
class ClientSpec:
    """A client: display ``name``, ``module`` under ``clients``, benchmarks it runs."""

    name: str
    module: str
    benches: tuple[str, ...] = THROUGHPUT


TETHER = "tether"

CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec(TETHER, "tether_session", (*THROUGHPUT, "reconnect", "dead_peer")),
    ClientSpec("tether send_nowait", "tether_nowait", ("stream",)),
    ClientSpec("Trio ceiling", "trio_ceiling", ("round_trip", "stream", "large")),
    ClientSpec("tether pure-Python", "tether_pure"),
    ClientSpec("trio-websocket", "trio_websocket_default"),
    ClientSpec("trio-websocket tuned", "trio_websocket_tuned", (*THROUGHPUT, "reconnect")),
    ClientSpec("websockets.trio", "websockets_trio"),
    ClientSpec("websockets asyncio", "websockets_asyncio"),
    ClientSpec("aiohttp", "aiohttp_ws"),
    ClientSpec("picows", "picows_ws"),
)
"""Every client, tether first (the reference every ratio divides by)."""
