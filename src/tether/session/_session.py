"""The public face of a session: :class:`Session`, made by :func:`tether.connect`.

A ``Session`` holds its machinery (composition, see ``_machinery.py``) and talks to it
through a narrow interface: the writer for sends, the receive buffer for receives, the
supervisor for ``reconnect()``, the closer for ``aclose()``, the event hub and counters
for ``events()`` and ``statistics()``.
"""

from __future__ import annotations

from typing import Any

import trio

from ..config import Config
from ..events import Event, LostReason
from ..exceptions import (
    ConfigError,
    ConnectionLostError,
    ReconnectFailed,
    RotationFailedError,
    SessionClosed,
)
from ..policy import check_close, check_close_code
from ..state import State
from ..statistics import Statistics
from ._event_stream import EventStream
from ._handle import round_trip
from ._keepalive import peer_proved_alive
from ._machinery import Machinery

__all__ = ["Session"]


class Session:
    """A WebSocket session that outlives its connections. Create it with :func:`connect`.

    Messages are ``str`` (text frames) or ``bytes`` (binary frames), or whatever the
    session's codec encodes. The guarantees (docs/design.md, "Send, receive, close"):
    ``receive()`` waits across reconnects; ``send()`` never loses a message silently; a slow reader
    gets backpressure, not a disconnect; every close sends a Close frame.
    """

    __slots__ = (
        "_closer",
        "_counters",
        "_encoding",
        "_hub",
        "_lifecycle",
        "_machinery",
        "_receive_buffer",
        "_supervisor",
        "_writer",
    )

    def __init__(self, machinery: Machinery) -> None:
        self._machinery = machinery
        self._lifecycle = machinery.lifecycle
        self._encoding = machinery.encoding
        self._writer = machinery.writer
        self._receive_buffer = machinery.receive_buffer
        self._supervisor = machinery.supervisor
        self._closer = machinery.closer
        self._hub = machinery.hub
        self._counters = machinery.counters

    @property
    def state(self) -> State:
        """The session's :class:`tether.State` now."""
        return self._lifecycle.state

    @property
    def generation(self) -> int:
        """Number of the current (or last) open connection: 1 for the first, +1 per open."""
        return self._lifecycle.generation

    @property
    def config(self) -> Config:
        """The :class:`tether.Config` this session runs with."""
        return self._machinery.config

    async def send(self, message: Any) -> None:
        """Send ``message``; return once it was written to a live connection.

        While no connection is open, or the writer is behind, the message waits in the
        send buffer (``Config.send_buffer`` messages, ``Config.send_buffer_bytes`` bytes)
        and is written, in order, after the next generation's ``on_connect``. When the
        buffer is full (by count, or this message would pass its bytes; an empty buffer
        takes a message of any size), ``Overflow.BLOCK`` (default) waits for room,
        ``RAISE`` raises :class:`tether.SendBufferFull`, and ``DROP_OLDEST`` evicts the
        oldest unwritten messages until it fits (their ``send()`` raises
        :class:`tether.MessageDropped`; a ``MessagesDropped`` event is emitted); it
        raises ``SendBufferFull`` only when the messages being written leave no room.

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
        await self._writer.send(self._encoding.encode(message))

    def send_nowait(self, message: Any) -> None:
        """Buffer ``message`` without waiting; it is written in order like ``send()``.

        Raises :class:`tether.SendBufferFull` (a ``trio.WouldBlock``) when the buffer is
        full (by count or bytes, as for ``send()``) under ``Overflow.BLOCK`` or ``RAISE``;
        under ``DROP_OLDEST`` it evicts the oldest unwritten messages until it fits and
        emits ``MessagesDropped``; it raises ``SendBufferFull`` there only when the
        messages being written leave no room. Raises
        :class:`tether.SessionClosed` once the session has ended.
        """
        self._writer.send_nowait(self._encoding.encode(message))

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
            self._lifecycle.terminal_seen = True
            raise
        codec = self._encoding.codec
        if codec is None:
            return raw
        return codec.decode(raw)

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

    def reconnect(self, reason: str = "", code: int = 1000) -> None:
        """Supersede the current generation now: an open connection is closed (a Close
        frame with ``code`` and ``reason``, bounded by ``close_timeout``) and reported as
        ``ConnectionLost`` with ``LostReason.SUPERSEDED``; a connect attempt or backoff
        under way is cancelled. The next attempt starts at once and begins a fresh
        outage (``max_attempts`` and ``give_up_after`` count from here). Calling it
        again before that attempt starts has no further effect.

        ``code`` (default 1000): an int an endpoint may send (1000-1003, 1007-1014 or
        3000-4999), as for :meth:`aclose`. A server that keeps a session resumable
        unless it is closed with 1000 or 1001 (Discord's gateway) wants a 4000-4999 code
        here (discord.py sends 4000). ``reason``: shown in ``ConnectionLost.detail``
        (default ``"reconnect() called"``); the Close frame carries it cut to 123 bytes
        of UTF-8.

        Raises :class:`tether.ConfigError` for a ``code`` that may not be sent (and
        nothing happens), :class:`tether.SessionClosed` once closing.
        """
        check_close_code(code)
        if self._closer.request is not None or self._lifecycle.finished:
            raise SessionClosed("the session is closed")
        self._supervisor.supersede(reason or "reconnect() called", code)

    async def rotate(self) -> None:
        """Replace the open connection without downtime (make-before-break): open a new
        generation (stream, handshake, ``on_connect``, within ``connect_timeout``)
        while the current one still serves; once it is open, the current one starts no
        new write, finishes those under way, and the new one takes over (``Rotated``):
        sends go to it, in order. Then the old connection closes with
        ``Config.supersede_close_code`` (bounded by ``close_timeout``), its reader
        delivering what the server sent before its Close. The state stays ``OPEN``
        throughout; there is no ``ConnectionLost``. ``Config.max_connection_age`` does
        the same on a timer.

        Returns once the new generation serves (``session.generation`` is its number).
        A rotation already under way is joined, not repeated. While no connection is
        open it first waits for one, like :meth:`wait_connected` (and returns once the
        next is open: that one is new anyway); so it does if the current connection
        is lost during the rotation (the session reconnects as after any loss).

        Raises :class:`tether.RotationFailedError` if the new connection could not be
        opened (the old one serves on; ``__cause__`` says why; a ``RotationFailed``
        event too), :class:`tether.SessionClosed` (or ``ReconnectFailed``) if the
        session ends or starts closing first. Cancellation: only the wait ends; the
        rotation goes on."""
        await trio.lowlevel.checkpoint_if_cancelled()
        rotation = None
        if self._lifecycle.state is State.OPEN:
            rotation = self._supervisor.rotate("rotate()")
        if rotation is not None:
            await rotation.done.wait()
            if rotation.error is not None:
                raise RotationFailedError(rotation.error) from rotation.error
            if rotation.taken:
                return
        await self.wait_connected()

    async def ping(self) -> float:
        """Send a Ping (RFC 6455 section 5.5.2) on the open connection and wait for its
        Pong; returns the round trip in seconds on Trio's clock (also recorded as
        ``statistics().last_rtt``). While no connection is open it first waits for one,
        like :meth:`wait_connected`. Not bounded by itself: wrap it in
        ``trio.move_on_after``.

        Raises :class:`tether.ConnectionLostError` if that connection ends before the
        Pong (the session reconnects as usual; ping again), :class:`tether.SessionClosed`
        (or ``ReconnectFailed``) if the session ends or starts closing first.
        Cancellation: safe; a Pong that comes later is taken by the reader as usual."""
        await self.wait_connected()
        generation = self._machinery.slot.active
        assert generation is not None  # OPEN: a generation is open
        assert generation.ws is not None
        seconds = await round_trip(generation.ws)
        self._machinery.counters.last_rtt = seconds
        return seconds

    async def wait_connected(self) -> None:
        """Wait until a generation is open (returns at once if one is), with no timeout
        of its own (``Config.give_up_after`` or ``trio.fail_after`` bound it).

        Raises :class:`tether.SessionClosed` if the session ends or starts closing first
        (:class:`tether.ReconnectFailed` if the policy gave up). Cancellation: safe, it
        only waits."""
        await trio.lowlevel.checkpoint_if_cancelled()
        lifecycle = self._lifecycle
        while lifecycle.state is not State.OPEN:
            if lifecycle.finished or self._closer.request is not None:
                raise lifecycle.terminal_or_closed()
            await lifecycle.changed.park()

    def events(self, max_buffer: int = 1024) -> EventStream:
        """Subscribe to session events (:mod:`tether.events`) from this call on.

        Returns a :class:`tether.EventStream` (a ``trio.abc.ReceiveChannel``) that holds
        up to ``max_buffer`` undelivered events; the session never waits for a
        subscriber: when it is full, further events are dropped for it and counted in
        ``statistics().events_dropped``. The stream ends (``EndOfChannel``; ``async
        for`` stops) after the final ``Closed`` event. It unsubscribes when closed, when
        its ``with``/``async with`` block exits, or once nobody holds it any more::

            async with session.events() as stream:
                async for event in stream:
                    ...

        Raises :class:`tether.ConfigError` if ``max_buffer`` is below 1. Once the
        session has ended, the stream it returns is already at its end.
        """
        if max_buffer < 1:
            raise ConfigError(f"max_buffer: must be >= 1, got {max_buffer!r}")
        return self._hub.subscribe(max_buffer, ended=self._lifecycle.finished)

    def emit_event(self, kind: type[Event], /, **fields: Any) -> None:
        """Emit an event of ``kind`` (a :class:`tether.events.Event` subclass, built with
        ``fields``, this session's current ``generation`` and ``at=trio.current_time()``)
        to this session's ``events()`` subscribers, ``on_event`` callback and the
        ``tether`` logger, like its own events. For layers built on the session
        (``tether.delivery`` reports its ``SequenceGap`` this way). Never blocks; a full
        subscriber misses it (``statistics().events_dropped``). Raises ``TypeError`` for
        fields ``kind`` does not take."""
        self._hub.emit(kind, self._lifecycle.generation, **fields)

    def heartbeat_missed(self, generation: int, sent_at: float, detail: str) -> bool:
        """Report that an application-level heartbeat sent on connection ``generation``
        (a ``Connection.generation``) at ``sent_at`` (``trio.current_time()`` seconds)
        got no reply in time, for layers built on the session (``tether.delivery``'s
        heartbeats). Judged as the session's own pinger judges a missing pong: if a
        message arrived on that connection after ``sent_at``, or the reader is waiting
        for the application to make room in the receive buffer (a slow application,
        not a dead peer), nothing happens and it returns ``False``; otherwise that
        connection ends now with ``LostReason.PING_TIMEOUT`` (``detail`` in
        ``ConnectionLost.detail``; no Close frame, the link is taken as dead), the
        session reconnects as after any loss, and it returns ``True``. Returns
        ``False`` too when that connection is not the open one any more. Never blocks,
        never raises."""
        active = self._machinery.slot.active
        if (
            active is None
            or active.number != generation
            or not active.opened
            or active.outcome is not None
            or peer_proved_alive(active, self._receive_buffer, sent_at)
        ):
            return False
        active.end(ConnectionLostError(LostReason.PING_TIMEOUT, None, detail))
        return True

    def statistics(self) -> Statistics:
        """A frozen snapshot of the session's counters (:class:`tether.Statistics`)."""
        counters = self._counters
        send_buffer = self._machinery.send_buffer
        generation = self._lifecycle.generation
        return Statistics(
            state=self._lifecycle.state,
            generation=generation,
            attempts=counters.attempts,
            reconnects=max(0, generation - 1),
            lost=dict(counters.lost),
            messages_sent=counters.messages_sent,
            messages_received=counters.messages_received,
            messages_dropped=send_buffer.dropped,
            send_buffered=len(send_buffer),
            send_buffered_bytes=send_buffer.bytes,
            receive_buffered=len(self._receive_buffer),
            receive_buffered_bytes=self._receive_buffer.bytes,
            last_rtt=counters.last_rtt,
            connected_since=counters.connected_since,
            downtime=counters.downtime_at(trio.current_time()),
            events_dropped=self._hub.dropped,
            event_subscribers=self._hub.subscribers,
            bytes_sent=counters.traffic.wire_sent,
            bytes_received=counters.traffic.wire_received,
            bytes_sent_uncompressed=counters.traffic.uncompressed_sent,
            bytes_received_uncompressed=counters.traffic.uncompressed_received,
        )

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the session gracefully: flush the send buffer, send a Close frame with
        ``code`` and ``reason`` (RFC 6455 section 7.4) and wait for the peer's, all within
        ``Config.close_timeout`` seconds. While no connection is open, buffered messages
        wait for one until that deadline. Messages still unwritten then are discarded and
        reported (``MessagesDropped``; their ``send()`` raises ``SessionClosed``).

        ``code``: an int an endpoint may send (1000, 1001, 1002, 1003, 1007-1014 or
        3000-4999); ``reason``: a str of at most 123 bytes in UTF-8. Otherwise raises
        :class:`tether.ConfigError` naming which, and nothing else happens.

        Idempotent. Never raises a transport error. Cancellation: the connection is
        still closed (Close frame 1001) by the enclosing ``connect()``.
        """
        check_close(code, reason)
        request = self._closer.request_close(code, reason, flush=True)
        lifecycle = self._lifecycle
        with trio.move_on_at(request.deadline):
            await lifecycle.wait_finished()
        if not lifecycle.finished:
            self._closer.force()
        await lifecycle.wait_finished()
