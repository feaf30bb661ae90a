"""tether's client connection (tether.connection): its own socket reads
(tether.connection._socket_read) on real socket pairs, and the order of its writes."""

from __future__ import annotations

import pytest
import trio
import wsproto
from wsproto.events import RejectConnection, RejectData, Request

import tether
from tether.connection import ClientConnection, ConnectionClosed, open_client
from tether.connection._client import RECEIVE_BUFFER_SIZE
from tether.connection._socket_read import read_now

from .helpers import wsproto_server


async def test_reads_what_is_there_and_says_when_nothing_is() -> None:
    left, right = trio.socket.socketpair()
    with left, right:
        await right.send(b"abcdef")
        assert read_now(left, 4) == b"abcd"
        assert read_now(left, 4) == b"ef"
        assert read_now(left, 4) is None  # EAGAIN: nothing waiting, not the end


async def test_end_of_stream_is_empty_bytes() -> None:
    left, right = trio.socket.socketpair()
    with left:
        right.close()
        assert read_now(left, 100) == b""


async def test_a_closed_socket_is_never_read() -> None:
    """Once closed, its descriptor number may belong to a new socket: refuse, do not read."""
    left, right = trio.socket.socketpair()
    with right:
        left.close()
        with pytest.raises(trio.ClosedResourceError):
            read_now(left, 100)


async def _reader_on(socket: trio.socket.SocketType, nursery: trio.Nursery) -> ClientConnection:
    connection = ClientConnection(trio.SocketStream(socket), max_message_size=1 << 20)
    nursery.start_soon(connection.read)
    await trio.testing.wait_all_tasks_blocked()
    return connection


async def test_the_reader_waits_for_data_when_the_socket_is_empty(nursery: trio.Nursery) -> None:
    left, right = trio.socket.socketpair()
    with right:
        connection = await _reader_on(left, nursery)
        assert not connection.ended  # EAGAIN was met by waiting, not taken as the end
        await right.send(b"\x81\x04late")  # a server's unmasked text frame
        with trio.fail_after(5):
            assert await connection.receive() == "late"


async def test_the_reader_reads_on_without_waiting_after_a_full_read(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that filled what it asked for is followed by one that only checkpoints
    (more is likely waiting): a frame one read longer than ``RECEIVE_BUFFER_SIZE``
    costs two waits for readability, the first read's and the one the reader parks in
    afterwards, not three."""
    waits: list[int] = []
    wait_readable = trio.lowlevel.wait_readable

    async def counted(socket: trio.socket.SocketType) -> None:
        waits.append(socket.fileno())
        await wait_readable(socket)

    monkeypatch.setattr(trio.lowlevel, "wait_readable", counted)
    left, right = trio.socket.socketpair()
    with right:
        payload = b"x" * (RECEIVE_BUFFER_SIZE + 10)
        frame = b"\x82\x7f" + len(payload).to_bytes(8, "big") + payload
        assert await right.send(frame) == len(frame)
        connection = await _reader_on(left, nursery)
        with trio.fail_after(5):
            assert await connection.receive() == payload
        await trio.testing.wait_all_tasks_blocked()
        assert len(waits) == 2


async def test_closing_while_the_reader_waits_ends_the_connection(nursery: trio.Nursery) -> None:
    left, right = trio.socket.socketpair()
    with right:
        connection = await _reader_on(left, nursery)
        left.close()
        with trio.fail_after(5):
            await connection.wait_ended()
        assert connection.broken is not None
        assert "ClosedResourceError" in connection.broken


async def test_a_closed_socket_is_refused_before_the_reader_waits_on_it(
    nursery: trio.Nursery,
) -> None:
    """Closed before the reader ran: it must not wait on (or register) a descriptor of
    -1, which Trio rejects with ValueError."""
    left, right = trio.socket.socketpair()
    with right:
        left.close()
        connection = await _reader_on(left, nursery)
        assert connection.ended
        assert connection.broken is not None
        assert "the socket was closed" in connection.broken


async def test_writes_take_turns_in_order_and_nothing_follows_the_close_frame(
    nursery: trio.Nursery,
) -> None:
    """Frames never interleave; writes queued before our Close go out before it, and a
    write that reaches its turn after the Close raises instead of following it (RFC 6455
    section 5.5.1)."""
    client_end, server_end = trio.testing.lockstep_stream_pair()  # send_all waits for reads
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    outcomes: dict[str, str] = {}

    async def send(name: str) -> None:
        try:
            await connection.send([name])
            outcomes[name] = "written"
        except ConnectionClosed:
            outcomes[name] = "refused"

    nursery.start_soon(send, "first")  # holds the turn: nobody reads yet
    await trio.testing.wait_all_tasks_blocked()
    nursery.start_soon(send, "queued")
    await trio.testing.wait_all_tasks_blocked()
    nursery.start_soon(connection.start_close, 1000, "bye")
    await trio.testing.wait_all_tasks_blocked()
    nursery.start_soon(send, "late")
    await trio.testing.wait_all_tasks_blocked()

    server = wsproto_server()
    events: list[object] = []
    while len(events) < 3:
        with trio.fail_after(5):
            server.receive_data(await server_end.receive_some())
        events.extend(server.events())
    await trio.testing.wait_all_tasks_blocked()
    assert [getattr(e, "data", None) or getattr(e, "code", None) for e in events] == [
        "first",
        "queued",
        1000,
    ]
    assert outcomes == {"first": "written", "queued": "written", "late": "refused"}


async def test_a_close_cancelled_before_its_turn_can_be_sent_later(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    client_end, server_end = trio.testing.lockstep_stream_pair()
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    nursery.start_soon(connection.send, ["big"])  # holds the turn until the server reads
    await trio.testing.wait_all_tasks_blocked()
    with trio.move_on_after(1) as timed_out:  # virtual time
        await connection.start_close(1000, "bye")
    assert timed_out.cancelled_caught  # nothing written: still waiting for its turn
    nursery.start_soon(connection.start_close, 1000, "bye")  # the retry must write
    server = wsproto_server()
    events: list[object] = []
    while len(events) < 2:
        with trio.fail_after(5):
            server.receive_data(await server_end.receive_some())
        events.extend(server.events())
    assert [getattr(e, "data", None) or getattr(e, "code", None) for e in events] == [
        "big",
        1000,
    ]


async def test_a_ping_raises_when_the_connection_ends_before_its_pong(
    nursery: trio.Nursery,
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    nursery.start_soon(connection.read)
    outcome: list[str] = []
    done = trio.Event()

    async def ping() -> None:
        try:
            await connection.ping()
            outcome.append("answered")
        except ConnectionClosed:
            outcome.append("closed")
        done.set()

    nursery.start_soon(ping)
    await trio.testing.wait_all_tasks_blocked()
    await server_end.aclose()  # the stream ends, no Pong
    with trio.fail_after(5):
        await done.wait()
    assert outcome == ["closed"]
    assert connection.ended


async def test_open_client_maps_a_refused_handshake_to_handshake_rejected(
    nursery: trio.Nursery,
) -> None:
    """The protocol layer's HandshakeRefused becomes tether.HandshakeRejected at the
    connection layer's edge: same status, lower-cased str headers and body, no cause."""
    client_end, server_end = trio.testing.memory_stream_pair()
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)

    async def refuse() -> None:
        while not any(isinstance(event, Request) for event in server.events()):
            server.receive_data(await server_end.receive_some())
        head = server.send(
            RejectConnection(status_code=503, headers=[(b"Retry-After", b"7")], has_body=True)
        )
        await server_end.send_all(head + server.send(RejectData(data=b"busy")))

    nursery.start_soon(refuse)
    with trio.fail_after(5), pytest.raises(tether.HandshakeRejected) as raised:
        await open_client(
            nursery,
            client_end,
            host="feed.example",
            resource="/",
            subprotocols=(),
            extra_headers=[],
            max_message_size=1 << 20,
        )
    error = raised.value
    assert (error.status_code, error.headers["retry-after"], error.body) == (503, "7", b"busy")
    assert all(name == name.lower() for name in error.headers)
    assert error.__cause__ is None


def _unmasked_ping_payloads(data: bytes) -> list[bytes]:
    """The payloads of the masked client Ping frames (4-byte payloads) in ``data``."""
    payloads = []
    for at in range(0, len(data), 10):  # 2 header + 4 mask + 4 payload
        frame = data[at : at + 10]
        assert frame[0] == 0x89 and frame[1] == 0x80 | 4
        mask, body = frame[2:6], frame[6:10]
        payloads.append(bytes(b ^ mask[i] for i, b in enumerate(body)))
    return payloads


async def test_a_pong_for_the_latest_ping_answers_a_ping_still_waiting(
    nursery: trio.Nursery,
) -> None:
    # RFC 6455 section 5.5.3: a Pong may answer only the latest Ping. A keepalive ping
    # waiting when the application pings too must not be left to time out.
    client_end, server_end = trio.testing.memory_stream_pair()
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    nursery.start_soon(connection.read)
    answered: list[str] = []

    async def ping(name: str) -> None:
        await connection.ping()
        answered.append(name)

    nursery.start_soon(ping, "first")
    await trio.testing.wait_all_tasks_blocked()
    nursery.start_soon(ping, "second")
    await trio.testing.wait_all_tasks_blocked()
    first, second = _unmasked_ping_payloads(await server_end.receive_some())
    assert first != second
    await server_end.send_all(bytes([0x8A, 4]) + first)  # the older ping's Pong: ignored
    await trio.testing.wait_all_tasks_blocked()
    assert answered == []
    await server_end.send_all(bytes([0x8A, 4]) + second)
    await trio.testing.wait_all_tasks_blocked()
    assert sorted(answered) == ["first", "second"]


async def test_a_cancelled_ping_gives_the_waiting_one_back(nursery: trio.Nursery) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    nursery.start_soon(connection.read)
    answered: list[str] = []

    async def first_ping() -> None:
        await connection.ping()
        answered.append("first")

    nursery.start_soon(first_ping)
    await trio.testing.wait_all_tasks_blocked()
    second_scope = trio.CancelScope()

    async def second_ping() -> None:
        with second_scope:
            await connection.ping()
            answered.append("second")

    nursery.start_soon(second_ping)
    await trio.testing.wait_all_tasks_blocked()  # written, waiting for its Pong
    first, _second = _unmasked_ping_payloads(await server_end.receive_some())
    second_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    await server_end.send_all(bytes([0x8A, 4]) + first)  # the first is waiting again
    await trio.testing.wait_all_tasks_blocked()
    assert answered == ["first"]


async def test_a_server_ping_is_answered_with_its_payload_until_our_close(
    autojump_clock: trio.abc.Clock, nursery: trio.Nursery
) -> None:
    """RFC 6455 section 5.5.2: a Pong with the Ping's payload; section 5.5.1: nothing
    after our Close frame, a Pong neither."""
    client_end, server_end = trio.testing.memory_stream_pair()
    connection = ClientConnection(client_end, max_message_size=1 << 20)
    nursery.start_soon(connection.read)
    server = wsproto_server()
    await server_end.send_all(server.send(wsproto.events.Ping(payload=b"are you there")))
    server.receive_data(await server_end.receive_some())
    [pong] = server.events()
    assert isinstance(pong, wsproto.events.Pong) and pong.payload == b"are you there"
    await connection.start_close(1000, "")
    server.receive_data(await server_end.receive_some())
    assert [type(e) for e in server.events()] == [wsproto.events.CloseConnection]
    await server_end.send_all(bytes([0x89, 2]) + b"hi")  # a Ping after our Close
    with trio.move_on_after(10) as waited:
        await server_end.receive_some()
    assert waited.cancelled_caught  # no Pong came
    assert connection.broken is None and connection.violation is None
