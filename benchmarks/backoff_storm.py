"""What a held but never-read ``session.events()`` subscriber pins during a 503 storm
(issue 10 item 3): each ``BackingOff`` event carries the ``HandshakeRejected`` that
ended its attempt.

The in-memory server (``tether.testing``, Trio's virtual clock) drops the open
connection and answers the next ``--rejections`` handshakes with 503 and a
``--body``-byte body; the session retries through them and opens again. We report the
``tracemalloc`` bytes still traced while the subscriber holds its 1,024 buffered
events, against the same storm without a subscriber.

    python benchmarks/backoff_storm.py --rejections 2000 --body 1048576
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

import trio
import trio.testing

import tether
from tether.testing import memory_server

URL = "ws://storm.test/"
CONFIG = tether.Config(
    ping_interval=None,
    ping_timeout=None,
    backoff=tether.Backoff(initial=0.01, maximum=0.01, jitter=False),
)


async def storm(rejections: int, body: int, subscribe: bool) -> int:
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        stream = session.events() if subscribe else None
        with session.events() as watcher:  # read at once: it pins nothing
            server.reject(rejections, 503, body=b"x" * body)
            server.drop()
            async for event in watcher:
                if isinstance(event, tether.events.Connected):
                    break
        assert session.statistics().attempts == rejections + 2
        gc.collect()
        pinned = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del stream
    return pinned


def main(rejections: int, body: int) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    alone = trio.run(storm, rejections, body, False, clock=clock)
    held = trio.run(storm, rejections, body, True, clock=clock)
    print(f"rejections={rejections} body={body:,} bytes")
    print(f"pinned by a never-read subscriber: {(held - alone) / 2**20:.2f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rejections", type=int, default=2000)
    parser.add_argument("--body", type=int, default=2**20)
    args = parser.parse_args()
    main(args.rejections, args.body)
