"""The public face of a session: :func:`connect` and :class:`Session`.

The machinery beneath (supervisor, generations, close) is
:class:`tether.session._supervisor.SessionCore`; see that module for the shape.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..codec import Codec
from ..config import Config
from ..connection import (
    ConnectionClosed,
    Opener,
    TcpOpener,
    lost_error,
)
from ..events import (
    Event,
    LostReason,
    MessagesDropped,
)
from ..exceptions import (
    ConfigError,
    ConnectionLostError,
    ReconnectFailed,
    SessionClosed,
    TetherError,
)
from ..policy import WebSocketURL, parse_url
from ..state import State
from ..statistics import Statistics
from ._buffers import Message, Outbound
from ._supervisor import (
    _GOING_AWAY,
    _INTERNAL_ERROR,
    _SHARED_RNG,
    HeadersArg,
    OnConnect,
    SessionCore,
    _Generation,
    _single_error,
)

try:  # Python 3.10
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    pass

__all__ = ["Session", "connect"]


class Session(SessionCore):
    """A WebSocket session that outlives its connections. Create it with :func:`connect`.

    Messages are ``str`` (text frames) or ``bytes`` (binary frames), or whatever the
    session's codec encodes. See DESIGN.md section 3 for the guarantees: ``receive()``
    waits across reconnects; ``send()`` never loses a message silently; a slow reader
    gets backpressure, not a disconnect; every close sends a Close frame.
    """

    __slots__ = ()

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> State:
        """The session's :class:`tether.State` now."""
        return self._state

    @property
    def generation(self) -> int:
        """Number of the current (or last) open connection: 1 for the first, +1 per open."""
        return self._generation

    @property
    def config(self) -> Config:
        """The :class:`tether.Config` this session runs with."""
        return self._config

    async def send(self, message: Any) -> None:
        """Send ``message``; return once it was written to a live connection.

        While no connection is open, or the writer is behind, the message waits in the
        send buffer (``Config.send_buffer`` messages) and is written, in order, after
        the next generation's ``on_connect``. When the buffer is full, ``Overflow.BLOCK``
        (default) waits for room, ``RAISE`` raises :class:`tether.SendBufferFull`, and
        ``DROP_OLDEST`` evicts the oldest unwritten message (its ``send()`` raises
        :class:`tether.MessageDropped`; a ``MessagesDropped`` event is emitted).

        A message whose write was cut off by a lost connection is written again on the
        next generation: at-least-once for that one message, exactly-once for the rest.

        Raises :class:`tether.SessionClosed` (or ``ReconnectFailed``) if the session ends
        first, ``TypeError`` if ``message`` is not ``str``/``bytes`` (without a codec).
        Cancellation: if the message was still waiting in the buffer it is withdrawn and
        never sent; if the writer task had already taken it, it will be written. If it was
        being written from this task (nothing was queued) and the write blocks (the
        socket's buffer is full), cancelling it ends the connection: a partial frame
        cannot be taken back, so the session reconnects and the message is not resent.
        """
        raw = self._encode(message)
        active = self._active
        if (
            active is not None
            and active.opened
            and not active.writing
            and not self._send_buffer
            and active.outcome is None
            and self._close_request is None
        ):
            # Nothing queued and a connection is open: write from this task (two task
            # switches fewer per message than through the writer task).
            entry = await self._write_directly(active, raw)
            if entry is None:
                return
        else:
            try:
                entry, evicted = await self._send_buffer.put(raw)
            except SessionClosed:
                self._terminal_seen = True
                raise
            self._ensure_writer()
            if evicted:
                self._emit(MessagesDropped, count=evicted)
        assert entry.done is not None
        try:
            await entry.done.wait()
        except BaseException:
            self._send_buffer.withdraw(entry)
            raise
        if entry.error is not None:
            if isinstance(entry.error, SessionClosed):
                self._terminal_seen = True
            raise entry.error

    async def _write_directly(self, generation: _Generation, raw: Message) -> Outbound | None:
        """Write ``raw`` on ``generation`` now. Returns None once written; if the
        connection turned out to be dead, puts the message back at the head of the send
        buffer (it precedes anything queued meanwhile) and returns its entry to wait on.
        Cancelled while waiting for its write turn, nothing was written (the usual Trio
        meaning of a cancelled send); cancelled mid-write, the stream may hold a partial
        frame: the generation ends."""
        ws = generation.ws
        assert ws is not None
        generation.writing = True
        try:
            await ws.send((raw,))
        except ConnectionClosed:
            generation.end(lost_error(ws))
            return self._send_buffer.put_front(raw, trio.Event())
        except BaseException:
            if not ws.frame_cut:
                raise
            generation.write_interrupted = True
            generation.end(
                ConnectionLostError(
                    LostReason.TRANSPORT_ERROR, None, "a send() was cancelled mid-write"
                )
            )
            raise
        finally:
            generation.writing = False
        self._messages_sent += 1
        return None

    def send_nowait(self, message: Any) -> None:
        """Buffer ``message`` without waiting; it is written in order like ``send()``.

        Raises :class:`tether.SendBufferFull` (a ``trio.WouldBlock``) when the buffer is
        full under ``Overflow.BLOCK`` or ``RAISE``; under ``DROP_OLDEST`` it evicts the
        oldest unwritten message and emits ``MessagesDropped``. Raises
        :class:`tether.SessionClosed` once the session has ended.
        """
        evicted = self._send_buffer.put_nowait(self._encode(message))
        self._ensure_writer()
        if evicted:
            self._emit(MessagesDropped, count=evicted)

    async def receive(self) -> Any:
        """The next message, whichever generation carried it; waits across reconnects.

        Raises :class:`tether.SessionClosed` once the session has ended and every buffered
        message has been returned (:class:`tether.ReconnectFailed` if the policy gave up),
        :class:`tether.DecodeError` if the codec rejects a message (it is consumed; the
        next call returns the next one). Cancellation: no message is lost.
        """
        try:
            raw = await self._receive_buffer.get()
        except SessionClosed:
            self._terminal_seen = True
            raise
        if self._codec is None:
            return raw
        return self._codec.decode(raw)

    def __aiter__(self) -> Session:
        return self

    async def __anext__(self) -> Any:
        """Iteration ends when the session is closed; ``ReconnectFailed`` propagates."""
        try:
            return await self.receive()
        except ReconnectFailed:
            raise
        except SessionClosed:
            raise StopAsyncIteration from None

    def reconnect(self, reason: str = "") -> None:
        """Supersede the current generation now: an open connection is closed (Close frame
        1000, bounded by ``close_timeout``) and reported as ``ConnectionLost`` with
        ``LostReason.SUPERSEDED``; a connect attempt or backoff under way is cancelled.
        The next attempt starts at once and begins a fresh outage (``max_attempts`` and
        ``give_up_after`` count from here). Calling it again before that attempt starts
        has no further effect. Raises :class:`tether.SessionClosed` once closing.
        """
        if self._close_request is not None or self._finished:
            raise SessionClosed("the session is closed")
        self._outage_attempts = 0
        self._outage_started_at = trio.current_time()
        self._skip_next_delay = True
        detail = reason or "reconnect() called"
        self._leave_open_state()
        if self._active is not None:
            self._active.end(ConnectionLostError(LostReason.SUPERSEDED, None, detail))
        elif self._sleep_scope is not None:
            self._sleep_scope.cancel()

    async def wait_connected(self) -> None:
        """Wait until a generation is open (returns at once if one is). Raises
        :class:`tether.SessionClosed` if the session ends first."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while self._state is not State.OPEN:
            if self._finished or self._close_request is not None:
                raise self._terminal_or_closed()
            await self._state_changed.park()

    def events(self, max_buffer: int = 1024) -> trio.MemoryReceiveChannel[Event]:
        """Subscribe to session events (:mod:`tether.events`) from this call on.

        Returns a receive channel that holds up to ``max_buffer`` undelivered events; the
        session never waits for a subscriber: when it is full, further events are
        dropped for it and counted in ``statistics().events_dropped``. The channel ends
        (``EndOfChannel``) after the final ``Closed`` event. Close it to unsubscribe.
        """
        if max_buffer < 1:
            raise ConfigError(f"max_buffer: must be >= 1, got {max_buffer!r}")
        send, receive = trio.open_memory_channel[Event](max_buffer)
        if self._finished:
            send.close()
        else:
            self._subscribers.append(send)
        return receive

    def statistics(self) -> Statistics:
        """A frozen snapshot of the session's counters (:class:`tether.Statistics`)."""
        now = trio.current_time()
        downtime = self._downtime
        if self._down_since is not None:
            downtime += now - self._down_since
        return Statistics(
            state=self._state,
            generation=self._generation,
            attempts=self._attempts,
            reconnects=max(0, self._generation - 1),
            lost=dict(self._lost),
            messages_sent=self._messages_sent,
            messages_received=self._messages_received,
            messages_dropped=self._send_buffer.dropped,
            send_buffered=len(self._send_buffer),
            receive_buffered=len(self._receive_buffer),
            last_rtt=self._last_rtt,
            connected_since=self._connected_since,
            downtime=downtime,
            events_dropped=self._events_dropped,
        )

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the session gracefully: flush the send buffer, send a Close frame with
        ``code`` and ``reason`` (RFC 6455 section 7.4) and wait for the peer's, all within
        ``Config.close_timeout`` seconds. While no connection is open, buffered messages
        wait for one until that deadline. Messages still unwritten then are discarded and
        reported (``MessagesDropped``; their ``send()`` raises ``SessionClosed``).

        Idempotent. Never raises a transport error. Cancellation: the connection is
        still closed (Close frame 1001) by the enclosing ``connect()``.
        """
        if not 1000 <= code <= 4999 or code in (1004, 1005, 1006, 1015):
            raise ConfigError(f"code: {code} cannot be sent in a Close frame (RFC 6455 7.4)")
        request = self._request_close(code, reason, flush=True)
        with trio.move_on_at(request.deadline):
            await self._wait_finished()
        if not self._finished:
            self._force_close()
        await self._wait_finished()


def _parse_urls(url: str | Sequence[str]) -> list[WebSocketURL]:
    if isinstance(url, str):
        return [parse_url(url)]
    urls = [parse_url(item) for item in url]
    if not urls:
        raise ConfigError("url: the failover list is empty")
    return urls


@asynccontextmanager
async def connect(
    url: str | Sequence[str],
    *,
    config: Config | None = None,
    on_connect: OnConnect | None = None,
    headers: HeadersArg = None,
    subprotocols: Sequence[str] = (),
    ssl_context: Any = None,
    codec: Codec | None = None,
    opener: Opener | None = None,
    rng: random.Random | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> AsyncIterator[Session]:
    """Open a reconnecting WebSocket session; enter once generation 1 is open.

    Args:
        url: ``ws://`` or ``wss://`` URL, or a sequence tried in order within each outage
            (failover; each outage starts again at the first).
        config: a :class:`tether.Config` (default ``Config()``).
        on_connect: ``async fn(conn: tether.Connection)``, run at the start of every
            generation, before buffered sends are flushed: authenticate, subscribe.
            Bounded by ``connect_timeout`` together with the handshake. Raising
            ``ConnectionLostError`` (from ``conn``) retries; any other exception is
            classified by the retry policy (by default it ends the session).
        headers: extra handshake headers: a mapping, or an ``async fn() -> mapping``
            called before every attempt (a token refreshed on each reconnect).
        subprotocols: ``Sec-WebSocket-Protocol`` values to offer, in preference order.
        ssl_context: for ``wss://`` with the default opener (default: system trust).
        codec: encode/decode messages (:class:`tether.JsonCodec`); default raw str/bytes.
        opener: the transport seam, ``async (host, port, tls) -> trio.abc.Stream``
            (default :class:`tether.TcpOpener`; ``tether.testing`` has in-memory ones).
        rng: ``random.Random`` for backoff jitter (seed it for a repeatable schedule).
        on_event: ``fn(event)`` called synchronously for every event from the first
            ``Connecting`` on, including those before entry (``events()`` subscribes
            only after). It must not block; an exception from it is logged and ignored.

    Raises (on entry): :class:`tether.ConfigError` for a bad URL or argument, at once;
    :class:`tether.HandshakeRejected` for a fatal rejection (401, 403, 404 ...) after one
    attempt; :class:`tether.ReconnectFailed` when the policy gives up first.

    On exit the session closes: normally with ``aclose()`` (flush, Close 1000); if the
    body raised, with Close 1011 and without flushing; if the body was cancelled or
    interrupted (``KeyboardInterrupt``), with Close 1001 in a shielded scope bounded by
    ``close_timeout``. If the session ended with
    an error the body never saw, that error is raised on exit. No ``ExceptionGroup``
    escapes.
    """
    urls = _parse_urls(url)
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        raise ConfigError(f"config: must be a tether.Config, got {config!r}")
    if isinstance(subprotocols, str):
        subprotocols = (subprotocols,)
    if opener is None:
        opener = TcpOpener(ssl_context=ssl_context)
    session = Session(
        urls,
        config=config,
        on_connect=on_connect,
        headers=headers,
        subprotocols=tuple(subprotocols),
        codec=codec,
        opener=opener,
        rng=rng or _SHARED_RNG,
        on_event=on_event,
    )
    raised: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session._supervise)
            try:
                await session._wait_first_open()
            except TetherError as exc:
                raised = exc
            else:
                try:
                    yield session
                except BaseException as exc:
                    raised = exc
                    if isinstance(exc, KeyboardInterrupt):
                        # Ctrl-C: the user is leaving, like a cancellation.
                        session._request_close(_GOING_AWAY, "going away", flush=False)
                        session._force_close()
                    elif not isinstance(exc, trio.Cancelled):
                        # An error in the body: tell the peer, do not flush.
                        session._request_close(_INTERNAL_ERROR, "client error", flush=False)
                        session._force_close()
                    # Cancelled: the generation's teardown sends Close 1001 itself.
                else:
                    await session.aclose()
    except BaseExceptionGroup as group:
        raise _single_error(group) from None
    if raised is not None:
        raise raised
    if session._terminal is not None and not session._terminal_seen:
        session._terminal_seen = True
        raise session._terminal
