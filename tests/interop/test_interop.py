"""tether against servers it did not write: trio-websocket, Python websockets, Node ws.

Every scenario runs against each server (``echo_server``, see ``conftest.py``) over
real 127.0.0.1 sockets, in real time. Every wait is on a condition and bounded by
``trio.fail_after``; the timeouts in the configs are short so each case takes well
under a second or two.
"""

from __future__ import annotations

import random
import sys

import pytest
import trio

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import ChaosProxy
from tether.testing.pytest_plugin import EventRecorder

from .conftest import CLOSE_PREFIX, DROP, EchoServer

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

pytestmark = [pytest.mark.interop, pytest.mark.loopback]

CONFIG = Config(
    ping_interval=5,
    ping_timeout=5,
    connect_timeout=5,
    close_timeout=2,
    backoff=Backoff(initial=0.05, maximum=0.25),
)
#: Upper bound, in seconds, for anything that should happen promptly on loopback.
PROMPT = 10.0


def refused(error: BaseException | None) -> bool:
    """Whether ``error`` is a refused TCP connect. ``trio.open_tcp_stream`` raises a
    plain ``OSError`` ("all attempts to connect ... failed") whose ``__cause__`` is a
    group of the per-address errors."""
    if isinstance(error, ConnectionRefusedError):
        return True
    cause = error.__cause__ if error is not None else None
    if isinstance(cause, BaseExceptionGroup):
        return cause.subgroup(ConnectionRefusedError) is not None
    return False


async def echo(session: tether.Session, message: str | bytes) -> None:
    await session.send(message)
    with trio.fail_after(PROMPT):
        reply = await session.receive()
    assert type(reply) is type(message)
    assert reply == message


# ---------------------------------------------------------------------- echo


async def test_echo_keeps_text_as_text_and_binary_as_binary(echo_server: EchoServer) -> None:
    recorder = EventRecorder()
    with trio.fail_after(PROMPT):
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            for message in ["hello", b"\x00\x01\xfe\xff", "ünïcødé ✓ 🦀", b"", ""]:
                await echo(session, message)
    assert recorder.kinds() == ["Connecting", "Connected", "Closed"]
    assert recorder.of(events.Closed)[0].code == 1000


async def test_text_and_binary_up_to_one_mebibyte(echo_server: EchoServer) -> None:
    """Sizes around the frame-length encodings (125/126, 65535/65536) up to exactly
    2**20 bytes, tether's default ``max_message_size``: all pass, both ways. One byte
    more and tether refuses the echo (close 1009, PROTOCOL_ERROR) and ends the session:
    the server would send it again (``ReconnectFailed`` names the size and the setting)."""
    assert CONFIG.max_message_size == 2**20
    rng = random.Random(1)
    sizes = [1, 125, 126, 65535, 65536, 2**20 - 1, 2**20]
    recorder = EventRecorder()
    with trio.fail_after(PROMPT * 3), pytest.raises(tether.ReconnectFailed) as raised:
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            for size in sizes:
                await echo(session, rng.randbytes(size))
                await echo(session, "".join(rng.choices("abcdefghij", k=size)))
            await session.send(b"x" * (2**20 + 1))
            await session.receive()
    (lost,) = recorder.of(events.ConnectionLost)
    assert (lost.reason, lost.code) == (LostReason.PROTOCOL_ERROR, 1009)
    assert "a message of 1,048,577 bytes exceeds max_message_size=1,048,576" in str(raised.value)
    assert recorder.kinds()[-2:] == ["GaveUp", "Closed"]
    assert session.generation == 1


# ---------------------------------------------------------------------- closes


@pytest.mark.parametrize("code", [1001, 1012, 4000])
async def test_server_close_with_a_code_then_reconnect(echo_server: EchoServer, code: int) -> None:
    recorder = EventRecorder()
    with trio.fail_after(PROMPT):
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            await echo(session, "before")
            await session.send(f"{CLOSE_PREFIX}{code}")
            lost = await recorder.wait_count(events.ConnectionLost, 1)
            await recorder.wait_count(events.Connected, 2)
            await echo(session, "after")
    assert (lost.generation, lost.reason, lost.code) == (1, LostReason.PEER_CLOSED, code)
    assert len(recorder.of(events.ConnectionLost)) == 1


async def test_abrupt_drop_is_a_transport_error_then_reconnect(
    echo_server: EchoServer,
) -> None:
    recorder = EventRecorder()
    with trio.fail_after(PROMPT):
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            await echo(session, "before")
            await session.send(DROP)
            lost = await recorder.wait_count(events.ConnectionLost, 1)
            await recorder.wait_count(events.Connected, 2)
            await echo(session, "after")
    assert (lost.generation, lost.reason, lost.code) == (1, LostReason.TRANSPORT_ERROR, 1006)
    assert len(recorder.of(events.ConnectionLost)) == 1


# ---------------------------------------------------------------------- restart


async def test_server_restart_on_the_same_port(echo_server: EchoServer) -> None:
    """Kill the server: the link breaks (TRANSPORT_ERROR), connects are refused
    (``BackingOff`` with a refused connect) until a new server listens on the same
    port, then the session is back."""
    recorder = EventRecorder()
    port = echo_server.port

    def refusals(items: list[events.Event]) -> int:
        return sum(isinstance(e, events.BackingOff) and refused(e.error) for e in items)

    with trio.fail_after(PROMPT * 2):
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            await echo(session, "before")
            await echo_server.stop()
            lost = await recorder.wait_count(events.ConnectionLost, 1)
            await recorder.wait_for(lambda items: refusals(items) >= 2)
            await echo_server.start()
            connected = await recorder.wait_count(events.Connected, 2)
            await echo(session, "after")
    assert echo_server.port == port
    assert (lost.reason, lost.code) == (LostReason.TRANSPORT_ERROR, 1006)
    between = recorder.items[recorder.items.index(lost) + 1 : recorder.items.index(connected)]
    backoffs = [e for e in between if isinstance(e, events.BackingOff)]
    # A connection that lived less than Backoff.stable_after continues its outage: the
    # first delay after its loss is a backoff step, reported with the loss as its error.
    if backoffs and isinstance(backoffs[0].error, tether.ConnectionLostError):
        assert backoffs[0].error.reason is LostReason.TRANSPORT_ERROR
        backoffs = backoffs[1:]
    assert len(backoffs) >= 2
    assert all(refused(e.error) for e in backoffs), [repr(e.error) for e in backoffs]
    attempts = [e for e in between if isinstance(e, events.Connecting)]
    assert len(attempts) == len(backoffs) + 1  # each refused, then the one that opened
    assert set(map(type, between)) <= {events.BackingOff, events.Connecting}


async def test_sends_buffered_while_the_server_is_down_arrive_in_order(
    echo_server: EchoServer,
) -> None:
    recorder = EventRecorder()
    with trio.fail_after(PROMPT * 2):
        async with tether.connect(echo_server.url, config=CONFIG, on_event=recorder) as session:
            await echo(session, "before")
            await echo_server.stop()
            await recorder.wait_count(events.ConnectionLost, 1)
            await recorder.wait_count(events.BackingOff, 1)
            for n in range(100):
                session.send_nowait(f"buffered-{n}")
            assert session.statistics().send_buffered == 100
            await echo_server.start()
            received = [await session.receive() for _ in range(100)]
    assert received == [f"buffered-{n}" for n in range(100)]
    assert session.generation == 2


# ---------------------------------------------------------------------- half-open


async def test_half_open_link_is_detected_by_pings_in_time(
    echo_server: EchoServer, record_property: pytest.RecordProperty
) -> None:
    """A ChaosProxy between tether and the server stops forwarding bytes (both TCP
    connections stay up): only pings can tell. ``ConnectionLost(PING_TIMEOUT)`` must come
    within ``ping_interval + ping_timeout + 0.5`` s of real time from the stall."""
    config = Config(
        ping_interval=0.5,
        ping_timeout=0.5,
        connect_timeout=5,
        close_timeout=1,
        backoff=Backoff(initial=0.05, maximum=0.25),
    )
    assert config.ping_interval is not None and config.ping_timeout is not None
    bound = config.ping_interval + config.ping_timeout + 0.5
    recorder = EventRecorder()
    async with ChaosProxy(upstream=("127.0.0.1", echo_server.port)) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/"
        with trio.fail_after(PROMPT):
            async with tether.connect(url, config=config, on_event=recorder) as session:
                await echo(session, "before")
                stalled_at = trio.current_time()
                proxy.stall()
                lost = await recorder.wait_count(events.ConnectionLost, 1)
                detected = lost.at - stalled_at
                proxy.resume()
                await recorder.wait_count(events.Connected, 2)
                await echo(session, "after")
    record_property("half_open_detection_s", round(detected, 3))
    print(f"{echo_server.name}: half-open link detected after {detected:.3f} s")
    assert lost.reason is LostReason.PING_TIMEOUT
    assert detected <= bound, f"{detected:.3f} s > {bound} s"


# ---------------------------------------------------------------------- proxies


@pytest.mark.parametrize(("listen", "scheme"), [("http", "http"), ("socks5", "socks5h")])
async def test_echo_through_a_real_proxy_with_credentials(
    echo_server: EchoServer, nursery: trio.Nursery, listen: str, scheme: str
) -> None:
    """The same echo through pproxy (HTTP CONNECT, SOCKS5 resolved by the proxy), with
    credentials, to each independent server; the proxy saw the tunnel."""
    from ..test_proxies import Pproxy

    proxy = Pproxy(nursery, listen, auth=True)
    await proxy.start()
    try:
        with trio.fail_after(PROMPT):
            async with tether.connect(
                echo_server.url, config=CONFIG, proxy=proxy.url(scheme=scheme)
            ) as session:
                await echo(session, "through the proxy")
                await echo(session, b"\x00\x01 binary too")
        port = echo_server.url.rsplit(":", 1)[1].rstrip("/")
        await proxy.seen(f"-> 127.0.0.1:{port}".encode())
    finally:
        await proxy.stop()
