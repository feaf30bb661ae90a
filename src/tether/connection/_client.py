"""tether's WebSocket client connection: the Trio shell around :mod:`tether.protocol`'s
:class:`~tether.protocol.FrameParser` and frame encoders, after the opening handshake
(``_open.py``: :func:`~tether.connection.open_client`).

One :class:`ClientConnection` is one generation's connection. Its reader task
(:meth:`ClientConnection.read`) is the only reader of the stream: it hands each complete
message straight to the session (no queue between them, no task switch per message;
while the session has no room the reader waits, and that is the backpressure: it stops
reading the socket), answers Pings while the connection is open, matches Pongs, and
takes in the server's Close. Writers (``send()`` callers, the session's writer task, the
pinger, the reader's Pongs and the Close) take turns, first come first served, one turn
per write (a large message's header and payload are two ``send_all`` calls in one turn),
so frames never interleave. Parking lots are made on first need: an
idle connection is its stream, its parser and a few fields.

Why not trio-websocket's ``WebSocketConnection`` (which tether used before): per message
it costs a wsproto event object, a second queue and a task switch, and per connection
about 18 KiB; the performance targets of docs/design.md need less of both. What it did
is all here, with three of its behaviours fixed: it answered Pings after its own Close
(RFC 6455 section 5.5.1 forbids it), waited forever on a server that closed the stream
mid-handshake, and dropped messages that arrived after the client's Close.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from typing import Final, Protocol

import trio

from ..protocol import (
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    Close,
    DeflateAgreement,
    Deflater,
    FrameParser,
    Ping,
    Pong,
    ProtocolViolation,
    close_payload,
    encode_control,
    encode_frame,
    encode_frame_split,
)
from ._errors import ConnectionClosed, lost_error
from ._protocol_log import ProtocolLog
from ._socket_read import check_open, read_now, write_socket
from ._traffic import Traffic

__all__ = ["PRE_SERVE_BYTES", "RECEIVE_BUFFER_SIZE", "ClientConnection", "PingWaiter", "Sink"]

#: Bytes asked of the stream per read while no large frame is arriving (trio-websocket's
#: default of 4 KiB gave 114 MiB/s for 1 MiB messages; 64 KiB gave 207 MiB/s).
RECEIVE_BUFFER_SIZE: Final = 65536
#: Messages of at least this many bytes (UTF-8 for text: a ``str``'s ``len`` is a lower
#: bound) are written as header and payload, two ``send_all`` calls, instead of joined.
LARGE_MESSAGE_SIZE: Final = 65536
#: Largest single read, when a large frame's remaining bytes are known.
MAX_READ_SIZE: Final = 256 * 1024
#: Messages held for ``receive()`` while ``on_connect`` runs; the reader waits beyond.
PRE_SERVE_CAPACITY: Final = 64
#: Default bound, in bytes (``len()`` of each message), on what is held before
#: :meth:`ClientConnection.serve`; the session passes ``Config.receive_buffer_bytes``.
PRE_SERVE_BYTES: Final = 2**24
#: Seconds the reader spends writing a Close frame in answer to the server's Close or
#: to fail the connection; the peer that does not read gets the TCP close instead.
CLOSE_FRAME_WRITE_TIMEOUT: Final = 1.0


#: Seconds a connection the server broke the protocol on waits, at most, for the
#: application to take the messages that came before the bad frame and for its replies
#: to be written, before the Close that fails it (the peer sees the answers to what it
#: sent correctly: Autobahn cases 3.x, 4.x and 5.15).
VIOLATION_GRACE: Final = 1.0


class Sink(Protocol):
    """What a served connection's reader hands its messages and news to
    (:meth:`ClientConnection.serve`): one object, not a callback per kind (each bound
    method or ``functools.partial`` a connection keeps is 64 to 260 bytes of every idle
    session)."""

    async def deliver(self, message: str | bytes) -> None:
        """Each complete message, in order. Waiting here is the backpressure: the reader
        reads nothing from the socket meanwhile."""

    def pong_received(self) -> None:
        """A Pong answered a ping (:meth:`ClientConnection.send_ping`); called after its
        waiter is answered."""

    def connection_ended(self) -> None:
        """Called once, when the connection ends while served (not when the reader is
        cancelled: then the session is the one ending it)."""

    async def before_failing(self) -> None:
        """The server broke the protocol: awaited by the reader (for at most
        :data:`VIOLATION_GRACE` seconds) before it sends the Close that fails the
        connection, so that the session lets the application take the messages that
        came before the bad frame and writes its replies first."""


class PingWaiter:
    """One Ping of ours waiting for its Pong: ``payload`` (4 bytes), ``answered_at``
    (``trio.current_time()`` of the Pong, ``None`` until then), ``event`` (set once
    answered or once the reader has left), ``previous`` (the ping that was waiting when
    this one was sent: the same Pong answers it, RFC 6455 section 5.5.3)."""

    __slots__ = ("answered_at", "event", "payload", "previous")

    def __init__(self, payload: bytes, previous: PingWaiter | None) -> None:
        self.payload = payload
        self.previous = previous
        self.event = trio.Event()
        self.answered_at: float | None = None

    def answer(self, at: float) -> None:
        """The Pong came at ``at``: this ping and those it superseded are answered."""
        waiter: PingWaiter | None = self
        while waiter is not None:
            waiter.answered_at = at
            waiter.event.set()
            waiter = waiter.previous


class ClientConnection:
    """One open client connection (after the handshake). See the module docstring.

    ``max_message_size``: largest inbound message, bytes (a larger one fails the
    connection with 1009). ``max_waiting_bytes``: until :meth:`serve`, the reader holds
    at most :data:`PRE_SERVE_CAPACITY` messages and this many bytes of them (a
    message's ``len()``; one message of any size when none is held), then waits.
    Once served (:meth:`serve`), the reader tells its :class:`Sink` what it reads.
    """

    __slots__ = (
        "_changed",
        "_close_sent",
        "_close_started",
        "_deflater",
        "_log",
        "_parser",
        "_pong_waiter",
        "_served",
        "_sink",
        "_stream",
        "_traffic",
        "_trailing",
        "_waiting",
        "_waiting_bytes",
        "_waiting_limit",
        "_write_waiters",
        "_writing",
        "broken",
        "close_received",
        "ended",
        "frame_cut",
        "violation",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_message_size: int,
        max_waiting_bytes: int = PRE_SERVE_BYTES,
        trailing: bytes = b"",
        log: ProtocolLog | None = None,
        deflate: DeflateAgreement | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        #: Where bytes written and read are counted (the session's; a private one if none).
        self._traffic = Traffic() if traffic is None else traffic
        self._log = log  # tether.protocol's records, None when that logger is off
        self._stream = stream
        self._parser = FrameParser(
            max_message_size, inflater=None if deflate is None else deflate.inflater()
        )
        self._deflater: Deflater | None = None if deflate is None else deflate.deflater()
        self._trailing = trailing
        self._writing = False
        self._write_waiters: trio.lowlevel.ParkingLot | None = None
        #: Parks ``receive()``, ``wait_ended()`` and the reader while ``_waiting`` is full.
        self._changed: trio.lowlevel.ParkingLot | None = None
        self._waiting: collections.deque[str | bytes] | None = collections.deque()
        self._waiting_bytes = 0
        self._waiting_limit = max_waiting_bytes
        #: Where messages go: the sink while served, ``None`` before and once detached.
        self._sink: Sink | None = None
        #: The sink given to :meth:`serve`, kept after :meth:`detach` for the news.
        self._served: Sink | None = None
        self._pong_waiter: PingWaiter | None = None
        #: A Close of ours was asked for / has taken its write turn (with this code).
        self._close_started = False
        self._close_sent: int | None = None
        #: The server's Close, once received.
        self.close_received: Close | None = None
        #: The server broke the protocol; the connection was failed with its code.
        self.violation: ProtocolViolation | None = None
        #: How the stream broke, if it did (no Close either way).
        self.broken: str | None = None
        #: A data write was cancelled inside ``send_all``: the stream may end mid-frame,
        #: so nothing more is written on it (not even a Close frame). Control frames are
        #: at most 131 bytes and go out whole in practice; their cancellation is not
        #: counted.
        self.frame_cut = False
        self.ended = False

    # ------------------------------------------------------------------ reading

    async def read(self) -> None:
        """The reader task: run until the connection ends (see the module docstring)."""
        connection_ended = True
        try:
            data: bytes | bytearray = self._trailing
            self._trailing = b""
            parser = self._parser
            stream = self._stream
            # On a plain TCP stream the reader waits for readability itself, here, and
            # then reads the socket without blocking (``read_now``): an idle reader parks
            # in one short call chain (1.7 KiB less per idle connection than inside
            # receive_some), and a read costs no extra pass of Trio's scheduler (one of
            # about four per round trip). After a read that filled what it asked for,
            # more is likely waiting: only a checkpoint before the next.
            socket = stream.socket if isinstance(stream, trio.SocketStream) else None
            drained = True  # as if the handshake's read had emptied the socket
            traffic = self._traffic
            inflater = parser.inflater
            while True:
                if data:
                    if self._log is not None:
                        self._log.received(data)
                    traffic.wire_received += len(data)
                    added = 0 if inflater is None else inflater.added
                    try:
                        items = parser.feed(data)
                        violation = None
                    except ProtocolViolation as error:
                        items, violation = error.completed, error  # deliver what came first
                    if inflater is not None:
                        added = inflater.added - added
                    traffic.uncompressed_received += len(data) + added
                    for item in items:
                        kind = type(item)
                        if kind is str or kind is bytes:
                            await self._deliver(item)  # type: ignore[arg-type]
                        elif kind is Ping:
                            await self._answer_ping(item)  # type: ignore[arg-type]
                        elif kind is Pong:
                            self._take_pong(item)  # type: ignore[arg-type]
                        else:
                            await self._peer_closed(item)  # type: ignore[arg-type]
                            return
                    if violation is not None:
                        raise violation
                wanted = parser.wanted
                asked = (
                    RECEIVE_BUFFER_SIZE
                    if wanted <= RECEIVE_BUFFER_SIZE
                    else min(wanted, MAX_READ_SIZE)
                )
                if socket is None:
                    data = await stream.receive_some(asked)
                else:
                    while True:
                        if drained:
                            check_open(socket)  # closed while this task was runnable
                            await trio.lowlevel.wait_readable(socket)
                        else:
                            await trio.lowlevel.checkpoint()
                        chunk = read_now(socket, asked)
                        if chunk is not None:
                            break
                        drained = True
                    data = chunk
                    drained = len(data) < asked
                if not data:
                    self.broken = "the server ended the stream without a Close frame"
                    return
        except ProtocolViolation as violation:
            self.violation = violation
            if self._served is not None:
                with trio.move_on_after(VIOLATION_GRACE):
                    await self._served.before_failing()
            await self._write_close_frame(violation.code, violation.reason)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            self.broken = f"stream broke: {error!r}" if str(error) else "stream broke"
        except trio.Cancelled:
            connection_ended = False  # the session is tearing the generation down
            raise
        finally:
            self._end(connection_ended)

    async def _deliver(self, message: str | bytes) -> None:
        while True:
            sink = self._sink
            if sink is not None:
                await sink.deliver(message)
                return
            waiting = self._waiting
            if waiting is None:  # detached: the generation is over
                return
            if not waiting or (
                len(waiting) < PRE_SERVE_CAPACITY
                and self._waiting_bytes + len(message) <= self._waiting_limit
            ):
                waiting.append(message)
                self._waiting_bytes += len(message)
                self._wake()
                return
            await self._park()  # until receive() takes one, serve() or detach()

    async def _answer_ping(self, ping: Ping) -> None:
        """RFC 6455 section 5.5.2; not after our Close (section 5.5.1)."""
        if self._close_sent is None:
            try:
                await self._write(encode_control(OPCODE_PONG, ping.payload))
            except ConnectionClosed:
                pass  # our Close went out first, or the stream broke (recorded): no Pong

    def _take_pong(self, pong: Pong) -> None:
        waiter = self._pong_waiter
        if waiter is not None and waiter.payload == pong.payload:
            self._pong_waiter = None
            waiter.answer(trio.current_time())
            if self._served is not None:
                self._served.pong_received()
        # Otherwise unsolicited (section 5.5.3 allows it): ignored.

    async def _peer_closed(self, close: Close) -> None:
        """The server's Close: answer it with the same code unless we sent ours first
        (section 5.5.1), and end."""
        self.close_received = close
        if not self._close_started:
            code = close.code if close.code != 1005 else None
            await self._write_close_frame(code, "")

    async def _write_close_frame(self, code: int | None, reason: str) -> None:
        """Best effort, bounded: a Close frame from the reader (answer or failure)."""
        with trio.move_on_after(CLOSE_FRAME_WRITE_TIMEOUT):
            try:
                await self.start_close(code, reason)
            except ConnectionClosed:
                pass

    def _end(self, connection_ended: bool) -> None:
        """The reader is leaving. Cancelled (``connection_ended`` false), the connection
        itself is not over: the session tearing the generation down may still send its
        Close frame."""
        self.ended = connection_ended
        self._wake()
        waiter = self._pong_waiter
        while waiter is not None:  # left in place, unanswered: ping() sees it
            waiter.event.set()
            waiter = waiter.previous
        if connection_ended and self._served is not None:
            self._served.connection_ended()

    # ------------------------------------------------------------------ session side

    async def receive(self) -> str | bytes:
        """The next message before :meth:`serve` (for ``on_connect``). Raises
        ``ConnectionLostError`` once the connection has ended."""
        await trio.lowlevel.checkpoint_if_cancelled()
        waiting = self._waiting
        if waiting is None:
            raise RuntimeError(
                "Connection.receive() is for on_connect only; once it has returned, "
                "messages go to Session.receive()"
            )
        while not waiting:
            if self.ended:
                raise lost_error(self)
            await self._park()
        message = waiting.popleft()
        self._waiting_bytes -= len(message)
        self._wake()
        return message

    def serve(self, sink: Sink) -> list[str | bytes]:
        """From now on hand what the reader reads to ``sink`` (its ``deliver`` awaited for
        each message: the reader waits when the session has no room). Returns the
        messages that arrived before. Call it once, before the reader has ended (after,
        ``sink`` hears nothing: the caller checks :attr:`ended`)."""
        waiting = list(self._waiting or ())
        self._waiting = None
        self._waiting_bytes = 0
        self._sink = self._served = sink
        self._wake()
        return waiting

    def detach(self) -> None:
        """Deliver nothing more (the generation is over); the reader drops the rest."""
        self._sink = None
        self._waiting = None
        self._wake()

    async def wait_ended(self) -> None:
        """Wait until the reader has ended (server's Close, stream end or failure)."""
        while not self.ended:
            await self._park()

    async def _park(self) -> None:
        if self._changed is None:
            self._changed = trio.lowlevel.ParkingLot()
        await self._changed.park()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.unpark_all()

    # ------------------------------------------------------------------ writing

    async def _write(
        self,
        *parts: bytes | bytearray,
        close_code: int | None = None,
        data: bool = False,
        messages: Sequence[str | bytes] = (),
    ) -> None:
        """``send_all`` each of ``parts`` (or the frames of ``messages``, encoded once the
        turn is ours), after the writes that came first (FIFO). The turn is handed
        straight to the next waiter, so nobody can cut in between. ``close_code``: these
        parts are our Close frame; ``data``: they are data frames, and a cancellation
        inside ``send_all`` marks :attr:`frame_cut`.

        Raises :class:`ConnectionClosed` if our Close frame took its turn first (RFC 6455
        section 5.5.1: nothing follows a Close; writes queued before the Close still go
        out before it), or if an earlier data write was cut off mid-frame."""
        if self._writing:
            if self._write_waiters is None:
                self._write_waiters = trio.lowlevel.ParkingLot()
            await self._write_waiters.park()  # returns owning the turn; cancelled: never had it
        else:
            self._writing = True  # uncontended: no extra yield; send_all checkpoints anyway
        writing = False
        try:
            # Cancelled here, not one byte went out: the stream is still whole. Passed,
            # the stream's own opening check passes too (nothing runs in between).
            await trio.lowlevel.checkpoint_if_cancelled()
            if self.frame_cut or (close_code is None and self._close_sent is not None):
                raise ConnectionClosed
            if close_code is not None:
                self._close_sent = close_code
            traffic = self._traffic
            saved = 0
            if messages:
                deflater = self._deflater
                if deflater is None:
                    parts = self._encode(messages)
                else:
                    saved = deflater.saved
                    parts = self._encode(messages)
                    saved = deflater.saved - saved
            size = sum(map(len, parts))
            traffic.wire_sent += size
            traffic.uncompressed_sent += size + saved
            writing = True
            if self._log is not None:
                self._log.sent(b"".join(parts))
            stream = self._stream
            if type(stream) is trio.SocketStream:
                await write_socket(stream, parts)
            else:
                for part in parts:
                    await stream.send_all(part)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            if self.broken is None and not self.ended:
                self.broken = f"write failed: {error!r}"
            raise ConnectionClosed from None
        except ConnectionClosed:
            raise
        except BaseException:
            if data and writing:  # cancelled inside send_all: part of a frame may be out
                self.frame_cut = True
            raise
        finally:
            waiters = self._write_waiters
            if not (waiters and waiters.unpark(count=1)):
                self._writing = False

    async def send(self, messages: Sequence[str | bytes]) -> None:
        """Write ``messages`` in order with a single ``send_all`` (two for one large
        message). Raises :class:`ConnectionClosed` once the connection is closing or
        closed."""
        if self._close_sent is not None or self.ended:
            raise ConnectionClosed
        await self._write(messages=messages, data=True)

    def _encode(self, messages: Sequence[str | bytes]) -> tuple[bytes | bytearray, ...]:
        """The frames of ``messages``. Called inside the write turn, once the write is
        sure to start: with context takeover the compressor's state must match what the
        server inflates, so a message is compressed only when it is written."""
        deflater = self._deflater
        if len(messages) == 1:
            message = messages[0]
            if len(message) < LARGE_MESSAGE_SIZE:
                return (encode_frame(message, deflater),)
            return encode_frame_split(message, deflater)
        return (b"".join([encode_frame(message, deflater) for message in messages]),)

    async def send_ping(self) -> PingWaiter:
        """Send a Ping with a fresh 4-byte payload; returns its waiter, answered (its
        ``answered_at`` set, its ``event`` set) when the Pong comes. Raises
        :class:`ConnectionClosed` if it cannot be sent. Cancelled before the frame went
        out, nothing was sent; cancelled mid-write, the stream holds a partial frame
        (:attr:`frame_cut`). A waiter no longer waited for goes back with
        :meth:`forget_ping`."""
        if self._close_sent is not None or self.ended:
            raise ConnectionClosed
        # A Pong answers the latest Ping (RFC 6455 section 5.5.3): a ping already waiting
        # (the keepalive's, when the application pings too) is answered with ours.
        waiter = PingWaiter(os.urandom(4), self._pong_waiter)
        self._pong_waiter = waiter
        try:
            await self._write(encode_control(OPCODE_PING, waiter.payload), data=True)
        except BaseException:
            self.forget_ping(waiter)
            raise
        return waiter

    def forget_ping(self, waiter: PingWaiter) -> None:
        """Stop waiting for ``waiter``'s Pong: a late one is then unsolicited."""
        if self._pong_waiter is waiter:
            self._pong_waiter = waiter.previous

    async def ping(self) -> None:
        """Send a Ping with a fresh 4-byte payload and wait for its Pong. Raises
        :class:`ConnectionClosed` if it cannot be sent or the connection ends before the
        Pong: only an answer counts as a round trip. If the reader is cancelled instead
        (the generation is being torn down), waits for the caller's own cancellation;
        the caller bounds the wait anyway."""
        waiter = await self.send_ping()
        try:
            await waiter.event.wait()
        except BaseException:
            self.forget_ping(waiter)
            raise
        if waiter.answered_at is None:  # woken by the reader leaving, not by a Pong
            if self.ended:
                raise ConnectionClosed
            await trio.sleep_forever()

    async def start_close(self, code: int | None, reason: str) -> None:
        """Send our Close frame (``code`` ``None``: one without a status code) unless one
        was already sent or the connection has ended; the reader keeps delivering what
        the server sent before its own Close (RFC 6455 section 5.5.1)."""
        if self._close_started or self.ended:
            return
        self._close_started = True
        payload = b"" if code is None else close_payload(code, reason)
        try:
            await self._write(
                encode_control(OPCODE_CLOSE, payload), close_code=1005 if code is None else code
            )
        finally:
            if self._close_sent is None:  # cancelled before its turn: nothing went out
                self._close_started = False

    async def aclose(self, code: int, reason: str) -> None:
        """The close handshake: send Close and wait for the reader to end. Bound it from
        outside (``move_on_at``); cancellation leaves the connection as it is."""
        try:
            await self.start_close(code, reason)
        except ConnectionClosed:
            return
        await self.wait_ended()
