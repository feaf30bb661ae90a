"""The Trio shell under a session: the supervisor, its connection generations, close.

Shape (DESIGN.md section 1)::

    connect()                      async context manager; owns the session nursery
    └── supervisor task            tenacity AsyncRetrying on Trio's clock, one attempt at a time
        └── generation N           one connect attempt and, if it opens, its whole life:
            ├── ws nursery         the connection's reader (_wsclient.py): it hands each
            │                      message straight to the session's receive buffer
            └── generation scope   cancelled to supersede N (reconnect(), loss, close)
                ├── open           stream + handshake + on_connect, under connect_timeout
                ├── senders        writer (only while messages are queued; coalesces),
                │                  pinger (ping_interval / ping_timeout), idle watchdog
                └── (this task)    waits for aclose(): flush, Close frame, peer's Close

``send()`` writes from the caller's task when a generation is open and nothing is queued
(ordered behind any write in progress by the connection's FIFO write lock); otherwise it
queues for the writer. An idle session is two tasks: the supervisor and the reader.

A generation never outlives its scope, and the buffers are the only state shared across
generations, so no task of generation N can act on N+1: there is no "is this still the
current socket?" check anywhere. The backoff sleep after a failed attempt runs in a scope
of its own that ``reconnect()`` and ``aclose()`` cancel.

Clocks: every deadline is on ``trio.current_time()``. tenacity is used for its retry
loop only; its own clock (``time.monotonic()``) never decides anything.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import tenacity
import trio

from .. import policy as _policy
from ..codec import Codec
from ..config import Config
from ..connection import (
    ClientConnection,
    ConnectionClosed,
    Opener,
    lost_error,
    map_error,
    open_client,
)
from ..events import (
    BackingOff,
    Closed,
    Connected,
    Connecting,
    ConnectionLost,
    Event,
    GaveUp,
    LostReason,
    MessagesDropped,
)
from ..exceptions import (
    ConfigError,
    ConnectionLostError,
    HandshakeRejected,
    ReconnectFailed,
    SessionClosed,
)
from ..policy import WebSocketURL
from ..protocol import fit_close_reason
from ..state import State, check_transition
from ._buffers import Message, ReceiveBuffer, SendBuffer
from ._handle import Connection

try:  # Python 3.10
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    pass

__all__ = ["SessionCore"]

logger = logging.getLogger("tether")

HeadersArg = Mapping[str, str] | Callable[[], Awaitable[Mapping[str, str]]] | None
OnConnect = Callable[[Connection], Awaitable[None]]
E = TypeVar("E", bound=Event)

_GOING_AWAY = 1001
#: Jitter draws when no ``rng`` is given: one generator for all sessions (a
#: ``random.Random`` holds 2.5 KiB of state; per session that was the largest cost).
_SHARED_RNG = random.Random()
#: The writer coalesces queued messages into one send_all of at most this many messages
#: and bytes (a single larger message is still written alone).
WRITE_BATCH_MESSAGES = 256
WRITE_BATCH_BYTES = 256 * 1024
_INTERNAL_ERROR = 1011


class _Closing(Exception):
    """Raised out of an attempt to stop the retry loop because the user closed."""


@attrs.define
class _CloseRequest:
    code: int
    reason: str
    flush: bool
    deadline: float
    forced: bool = False


@attrs.define(eq=False)
class _UserClose:
    """A generation's outcome when the user closed the session."""

    request: _CloseRequest


@attrs.define(eq=False)
class _Generation:
    """One connect attempt and, once it opens, one connection's life."""

    number: int
    url: WebSocketURL
    attempt: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    opened: bool = False
    outcome: ConnectionLostError | _UserClose | None = None
    stream: trio.abc.Stream | None = None
    ws: ClientConnection | None = None
    senders: trio.Nursery | None = None
    writer_running: bool = False
    writing: bool = False
    opened_at: float = 0.0
    last_data_at: float = 0.0
    write_interrupted: bool = False

    on_end: Callable[[], None] | None = None

    def end(self, outcome: ConnectionLostError | _UserClose) -> None:
        """Decide how this generation ends (the first decision wins) and cancel it."""
        if self.outcome is None:
            self.outcome = outcome
            if self.on_end is not None:
                self.on_end()
        self.scope.cancel()


def _single_error(error: BaseException) -> BaseException:
    """The one exception worth raising from a (possibly nested) Trio exception group:
    the first that is not a cancellation, else the first cancellation."""
    if not isinstance(error, BaseExceptionGroup):
        return error
    leaves: list[BaseException] = []
    stack: list[BaseException] = [error]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(reversed(item.exceptions))
        else:
            leaves.append(item)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]


class SessionCore:
    """The state and machinery under :class:`tether.Session`: the supervisor, the
    generations, the close path and the end of the session. The public API is in
    ``_session.py``; nothing here is called by users."""

    __slots__ = (
        "_active",
        "_attempts",
        "_close_code_sent",
        "_close_request",
        "_codec",
        "_config",
        "_connected_since",
        "_down_since",
        "_downtime",
        "_events_dropped",
        "_finished",
        "_gave_up",
        "_generation",
        "_headers",
        "_last_attempt_opened",
        "_last_message_at",
        "_last_rtt",
        "_lost",
        "_messages_received",
        "_messages_sent",
        "_on_connect",
        "_on_event",
        "_opener",
        "_outage_attempts",
        "_outage_started_at",
        "_receive_buffer",
        "_retry_if",
        "_rng",
        "_send_buffer",
        "_skip_next_delay",
        "_sleep_scope",
        "_state",
        "_state_changed",
        "_subprotocols",
        "_subscribers",
        "_terminal",
        "_terminal_seen",
        "_urls",
    )

    def __init__(
        self,
        urls: Sequence[WebSocketURL],
        *,
        config: Config,
        on_connect: OnConnect | None,
        headers: HeadersArg,
        subprotocols: tuple[str, ...],
        codec: Codec | None,
        opener: Opener,
        rng: random.Random,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self._urls = tuple(urls)
        self._config = config
        self._on_connect = on_connect
        self._headers = headers
        self._subprotocols = subprotocols
        self._codec = codec
        self._opener = opener
        self._rng = rng
        self._retry_if = config.retry_if or _policy.default_retry_if

        self._state = State.CONNECTING
        self._state_changed = trio.lowlevel.ParkingLot()
        self._generation = 0
        self._active: _Generation | None = None
        self._sleep_scope: trio.CancelScope | None = None
        self._send_buffer = SendBuffer(config.send_buffer, config.overflow)
        self._receive_buffer = ReceiveBuffer(config.receive_buffer)
        self._close_request: _CloseRequest | None = None
        self._close_code_sent: int | None = None
        #: The session has ended (state CLOSED); waiters park on ``_state_changed``.
        self._finished = False
        self._terminal: SessionClosed | None = None
        self._terminal_seen = False
        self._subscribers: list[trio.MemorySendChannel[Event]] = []
        self._on_event = on_event

        # The current outage: attempts since the last open connection, and since when.
        self._outage_attempts = 0
        self._outage_started_at = 0.0
        self._skip_next_delay = False
        self._gave_up = False
        self._last_attempt_opened = False

        # Counters for statistics().
        self._attempts = 0
        self._lost: dict[LostReason, int] = {}
        self._messages_sent = 0
        self._messages_received = 0
        self._events_dropped = 0
        self._last_rtt: float | None = None
        self._last_message_at: float | None = None
        self._connected_since: float | None = None
        self._down_since: float | None = None
        self._downtime = 0.0

    # ------------------------------------------------------------------ close plumbing

    def _request_close(self, code: int, reason: str, *, flush: bool) -> _CloseRequest:
        if self._close_request is not None:
            return self._close_request
        timeout = self._config.close_timeout
        deadline = trio.current_time() + (math.inf if timeout is None else timeout)
        request = _CloseRequest(code, fit_close_reason(reason), flush, deadline)
        self._close_request = request
        if self._finished:
            return request
        self._set_state(State.CLOSING)
        self._state_changed.unpark_all()  # _serve waits for the request there
        active = self._active
        if active is not None and not active.opened and not (flush and self._send_buffer):
            active.end(_UserClose(request))
        if active is None and not (flush and self._send_buffer) and self._sleep_scope:
            self._sleep_scope.cancel()
        return request

    def _force_close(self) -> None:
        request = self._close_request
        assert request is not None
        request.forced = True
        if self._active is not None:
            self._active.end(_UserClose(request))
        if self._sleep_scope is not None:
            self._sleep_scope.cancel()

    def _closing_now(self) -> bool:
        request = self._close_request
        return request is not None and (request.forced or not (request.flush and self._send_buffer))

    # ------------------------------------------------------------------ supervisor

    async def _supervise(self) -> None:
        """Run attempts until the user closes, the policy gives up, or we are cancelled."""
        self._outage_started_at = trio.current_time()
        retrying = tenacity.AsyncRetrying(
            sleep=self._backoff_sleep,
            stop=self._should_stop,
            wait=self._next_delay,
            retry=tenacity.retry_if_exception(self._should_retry),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        error: BaseException | None = None
        try:
            await retrying(self._attempt)
        except _Closing:
            pass
        except Exception as exc:
            # While the user is closing, whatever ends the last generation is part of
            # the close, not a reason to report failure.
            error = None if self._close_request is not None else exc
        finally:
            self._finish(error)

    def _should_retry(self, error: BaseException) -> bool:
        if self._closing_now() or isinstance(error, _Closing):
            return False
        if isinstance(error, ConnectionLostError) and error.reason is LostReason.SUPERSEDED:
            return True
        return self._retry_if(error)

    def _should_stop(self, retry_state: tenacity.RetryCallState) -> bool:
        if self._skip_next_delay:
            return False
        config = self._config
        if config.max_attempts is not None and self._outage_attempts >= config.max_attempts:
            self._gave_up = True
        elapsed = trio.current_time() - self._outage_started_at
        if config.give_up_after is not None and elapsed >= config.give_up_after:
            self._gave_up = True
        return self._gave_up

    def _next_delay(self, retry_state: tenacity.RetryCallState) -> float:
        if self._skip_next_delay:
            self._skip_next_delay = False
            return 0.0
        assert retry_state.outcome is not None
        error = retry_state.outcome.exception()
        delay = None if error is None else _policy.retry_after(error, now_wall=time.time())
        if delay is None:
            attempt = self._outage_attempts + 1
            if attempt == 1 and error is not None and _policy.must_wait_before_retry(error):
                attempt = 2  # the server asked for time: no immediate first retry
            delay = _policy.backoff_delay(self._config.backoff, attempt, self._rng)
        give_up_after = self._config.give_up_after
        if give_up_after is not None:
            remaining = self._outage_started_at + give_up_after - trio.current_time()
            delay = min(delay, max(0.0, remaining))
        return delay

    async def _before_sleep(self, retry_state: tenacity.RetryCallState) -> None:
        delay = retry_state.upcoming_sleep
        if delay <= 0 and self._last_attempt_opened:
            return
        assert retry_state.outcome is not None
        if delay > 0:
            self._set_state(State.BACKING_OFF)
        self._emit(
            BackingOff,
            generation=self._generation + 1,
            attempt=self._outage_attempts + 1,
            delay=delay,
            error=retry_state.outcome.exception(),
        )

    async def _backoff_sleep(self, delay: float) -> None:
        if delay <= 0:
            await trio.lowlevel.checkpoint()
            return
        with trio.CancelScope() as scope:
            self._sleep_scope = scope
            if self._closing_now():
                scope.cancel()
            await trio.sleep(delay)
        self._sleep_scope = None

    async def _attempt(self) -> None:
        """One connect attempt and, if it opens, that generation's whole life.

        Returns when the user closed the session; raises the attempt's error, or
        :class:`ConnectionLostError` once an open generation ends.
        """
        if self._closing_now():
            raise _Closing
        self._outage_attempts += 1
        self._attempts += 1
        attempt = self._outage_attempts
        url = self._urls[(attempt - 1) % len(self._urls)]
        generation = _Generation(self._generation + 1, url, attempt)
        generation.on_end = self._leave_open_state
        self._last_attempt_opened = False
        self._set_state(State.CONNECTING)
        self._emit(Connecting, generation=generation.number, attempt=attempt, url=url.url)
        self._active = generation
        try:
            await self._run_generation(generation)
        finally:
            self._active = None
        self._after_generation(generation)

    def _after_generation(self, generation: _Generation) -> None:
        outcome = generation.outcome
        if generation.opened:
            self._last_attempt_opened = True
            self._on_generation_down()
            if isinstance(outcome, ConnectionLostError):
                self._report_lost(generation, outcome)
                raise outcome
            raise _Closing
        if isinstance(outcome, _UserClose):
            raise _Closing
        if outcome is not None:
            raise outcome
        raise ConnectionResetError("the connection ended before it opened")  # pragma: no cover

    def _report_lost(self, generation: _Generation, lost: ConnectionLostError) -> None:
        self._lost[lost.reason] = self._lost.get(lost.reason, 0) + 1
        now = trio.current_time()
        if now - generation.opened_at >= self._config.backoff.stable_after:
            # A stable connection ended the outage: this loss starts a fresh one.
            self._outage_attempts = 0
            self._outage_started_at = now
        self._emit(
            ConnectionLost,
            generation=generation.number,
            reason=lost.reason,
            code=lost.code,
            detail=lost.detail,
        )

    # ------------------------------------------------------------------ one generation

    async def _run_generation(self, generation: _Generation) -> None:
        try:
            async with trio.open_nursery() as ws_nursery:
                try:
                    with generation.scope:
                        ws = await self._open(generation, ws_nursery)
                        await self._serve(generation, ws)
                finally:
                    with trio.CancelScope(shield=True):
                        await self._teardown(generation)
                    ws_nursery.cancel_scope.cancel()
        except BaseException as error:
            single = _single_error(error)
            if isinstance(single, trio.Cancelled):
                raise
            mapped = map_error(single)
            if generation.opened:
                # A crash inside an open generation (a bug, or the user's codec): it
                # still gets its ConnectionLost, then the policy decides.
                lost = ConnectionLostError(
                    LostReason.TRANSPORT_ERROR, None, f"generation crashed: {mapped!r}"
                )
                if generation.outcome is None:
                    generation.outcome = lost
                self._on_generation_down()
                self._report_lost(generation, lost)
                self._last_attempt_opened = True
            raise mapped from mapped.__cause__

    async def _open(self, generation: _Generation, ws_nursery: trio.Nursery) -> ClientConnection:
        """Stream, handshake and ``on_connect``, all within ``connect_timeout``."""
        timeout = self._config.connect_timeout
        url = generation.url
        with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
            extra_headers = await self._handshake_headers()
            generation.stream = await self._opener(url.host, url.port, url.tls)
            ws, accepted = await open_client(
                ws_nursery,
                generation.stream,
                host=url.host_header,
                resource=url.resource,
                subprotocols=self._subprotocols,
                extra_headers=extra_headers,
                max_message_size=self._config.max_message_size,
            )
            generation.ws = ws
            if self._on_connect is not None:
                await self._on_connect(
                    Connection(
                        ws,
                        accepted,
                        generation=generation.number,
                        url=url.url,
                        attempt=generation.attempt,
                        last_message_at=self._last_message_at,
                        messages_received=self._messages_received,
                        encode=self._encode,
                        decode=self._decode,
                    )
                )
            return ws
        assert deadline.cancelled_caught
        raise TimeoutError(f"connect attempt timed out after {timeout} s ({url.url})")

    async def _handshake_headers(self) -> list[tuple[bytes, bytes]]:
        headers = self._headers
        if headers is None:
            return []
        if callable(headers):
            headers = await headers()
        if not isinstance(headers, Mapping):
            raise ConfigError(f"headers: must be a mapping of str to str, got {headers!r}")
        return [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]

    async def _serve(self, generation: _Generation, ws: ClientConnection) -> None:
        """The generation is open: run its tasks until one of them ends it."""
        now = trio.current_time()
        generation.opened = True
        generation.opened_at = generation.last_data_at = now
        self._generation = generation.number
        self._connected_since = now
        if self._down_since is not None:
            self._downtime += now - self._down_since
            self._down_since = None
        if self._state is not State.CLOSING:
            self._set_state(State.OPEN)
        self._emit(
            Connected,
            generation=generation.number,
            url=generation.url.url,
            attempt=generation.attempt,
        )
        config = self._config
        for message in ws.serve(functools.partial(self._deliver, generation)):
            self._receive_buffer.put(message)  # on_connect left these: keep their order
            self._messages_received += 1
        ws.on_closed = functools.partial(self._connection_ended, generation, ws)
        if ws.ended:
            self._connection_ended(generation, ws)
        # The tasks that write: the writer (started only while messages are queued), the
        # pinger and the idle watchdog. This task waits for a close request meanwhile;
        # any end of the generation cancels it from outside (generation.scope).
        try:
            async with trio.open_nursery() as senders:
                generation.senders = senders
                if config.ping_interval is not None and config.ping_timeout is not None:
                    senders.start_soon(
                        self._pinger, generation, ws, config.ping_interval, config.ping_timeout
                    )
                if config.idle_timeout is not None:
                    senders.start_soon(self._idle_watchdog, generation, config.idle_timeout)
                self._ensure_writer()
                while self._close_request is None:
                    await self._state_changed.park()
                request = self._close_request
                assert request is not None
                if request.flush and not request.forced:
                    with trio.move_on_at(request.deadline):
                        await self._send_buffer.wait_empty()
                if generation.outcome is None:
                    generation.outcome = _UserClose(request)
                senders.cancel_scope.cancel()
        finally:
            generation.senders = None  # closed to new tasks, however it ended
        # Stop writing, send the Close frame, and let the reader take in what the peer
        # sent before its own Close (RFC 6455 section 5.5.1): messages are delivered, not
        # discarded. The reader ending ends the generation.
        outcome = generation.outcome
        assert outcome is not None  # set above, or the generation was cancelled
        if isinstance(outcome, _UserClose) and not generation.write_interrupted:
            request = outcome.request
            with trio.move_on_at(request.deadline):
                with contextlib.suppress(ConnectionClosed):
                    await ws.start_close(request.code, request.reason)
                self._close_code_sent = request.code
                await ws.wait_ended()
        generation.end(outcome)

    def _connection_ended(self, generation: _Generation, ws: ClientConnection) -> None:
        """The connection's reader ended: the connection is over."""
        generation.end(lost_error(ws))

    def _ensure_writer(self) -> None:
        """Start the open generation's writer if messages are queued and none is running."""
        generation = self._active
        if (
            generation is not None
            and generation.senders is not None
            and not generation.writer_running
            and generation.outcome is None
            and self._send_buffer
        ):
            generation.writer_running = True
            ws = generation.ws
            assert ws is not None
            generation.senders.start_soon(self._writer, generation, ws)

    def _leave_open_state(self) -> None:
        """The open generation is ending: wait_connected() now waits for the next one."""
        if self._state is State.OPEN:
            self._set_state(State.CONNECTING)

    def _on_generation_down(self) -> None:
        self._leave_open_state()
        if self._connected_since is not None:
            self._connected_since = None
            self._down_since = trio.current_time()

    async def _deliver(self, generation: _Generation, message: Message) -> None:
        """Called by the connection's reader task with each complete inbound message.
        Waiting here for room is the backpressure: while it waits, that task does not
        read the socket."""
        buffer = self._receive_buffer
        if buffer.full():
            await buffer.wait_for_room()
        generation.last_data_at = self._last_message_at = trio.current_time()
        self._messages_received += 1
        buffer.put(message)

    async def _writer(self, generation: _Generation, ws: ClientConnection) -> None:
        """Write the send buffer in order until it is empty, coalescing whatever is queued
        into one ``send_all`` (at most WRITE_BATCH_MESSAGES / WRITE_BATCH_BYTES at a
        time). Started on demand by ``_ensure_writer``; returns when there is nothing
        left, so an idle session has no writer task."""
        buffer = self._send_buffer
        try:
            while buffer:
                batch = buffer.take_batch(WRITE_BATCH_MESSAGES, WRITE_BATCH_BYTES)
                written = False
                try:
                    await ws.send([entry.message for entry in batch])
                    written = True
                except ConnectionClosed:
                    generation.end(lost_error(ws))
                    return
                finally:
                    if written:
                        buffer.written(batch)
                        self._messages_sent += len(batch)
                    else:
                        buffer.unwritten(batch)
                        if ws.frame_cut or ws.broken is not None:
                            generation.write_interrupted = True
        finally:
            generation.writer_running = False

    async def _pinger(
        self, generation: _Generation, ws: ClientConnection, interval: float, pong_within: float
    ) -> None:
        while True:
            await trio.sleep(interval)
            sent_at = trio.current_time()
            with trio.move_on_after(pong_within) as pong_wait:
                try:
                    await ws.ping()
                except ConnectionClosed:
                    generation.end(lost_error(ws))
                    return
            if not pong_wait.cancelled_caught:
                self._last_rtt = trio.current_time() - sent_at
                continue
            # No pong in time. Data that arrived meanwhile, or a reader waiting on the
            # application, proves the peer alive: the pong is queued behind that data.
            if self._receive_buffer.blocked or generation.last_data_at > sent_at:
                continue
            generation.end(
                ConnectionLostError(
                    LostReason.PING_TIMEOUT, None, f"no pong within {pong_within} s of a ping"
                )
            )
            return

    async def _idle_watchdog(self, generation: _Generation, idle_limit: float) -> None:
        while True:
            await trio.sleep_until(generation.last_data_at + idle_limit)
            if self._receive_buffer.blocked:
                # The application is not reading; the reader restarts the clock once it
                # does. Look again one period later (sleep_until a past deadline would
                # return at once and spin).
                await trio.sleep(idle_limit)
                continue
            if trio.current_time() >= generation.last_data_at + idle_limit:
                generation.end(
                    ConnectionLostError(
                        LostReason.IDLE_TIMEOUT, None, f"no message for {idle_limit} s"
                    )
                )
                return

    async def _teardown(self, generation: _Generation) -> None:
        """Close the generation's connection the way its outcome calls for. Runs shielded;
        every wait is bounded by ``close_timeout``."""
        ws, stream, outcome = generation.ws, generation.stream, generation.outcome
        timeout = self._config.close_timeout
        deadline = trio.current_time() + (math.inf if timeout is None else timeout)
        if ws is not None and not generation.opened:
            # Ended during on_connect: what arrived for it is dropped, so that the reader,
            # which may be waiting for on_connect to take a message, reads on to the
            # server's Close.
            ws.detach()
        if ws is not None and stream is not None and not ws.ended:
            if generation.write_interrupted:
                pass  # a frame was cut off mid-write: the stream is garbage, just abort
            elif isinstance(outcome, _UserClose):
                request = outcome.request
                await self._close_handshake(
                    ws,
                    request.code,
                    request.reason,
                    max(request.deadline, trio.current_time()),
                )
                self._close_code_sent = request.code
            elif outcome is None:
                # Cancelled from outside: the reader is cancelled too, so send the Close
                # frame and do not wait for the reply.
                with trio.move_on_at(deadline), contextlib.suppress(ConnectionClosed):
                    await ws.start_close(_GOING_AWAY, "going away")
                self._close_code_sent = _GOING_AWAY
            elif outcome.reason in (LostReason.SUPERSEDED, LostReason.IDLE_TIMEOUT):
                await self._close_handshake(ws, 1000, fit_close_reason(outcome.detail), deadline)
        if ws is not None:
            ws.detach()
        if stream is not None:
            await trio.aclose_forcefully(stream)

    @staticmethod
    async def _close_handshake(
        ws: ClientConnection, code: int, reason: str, deadline: float
    ) -> None:
        with trio.move_on_at(deadline):
            await ws.aclose(code, reason)
        # Out of time before the frame went out: still tell the peer, briefly.
        with trio.move_on_after(1.0), contextlib.suppress(ConnectionClosed):
            await ws.start_close(code, reason)

    # ------------------------------------------------------------------ end of session

    def _finish(self, error: BaseException | None) -> None:
        now = trio.current_time()
        self._on_generation_down()
        if self._down_since is not None:
            self._downtime += now - self._down_since
            self._down_since = None
        request = self._close_request
        if error is None:
            reason = request.reason if request is not None else "cancelled"
            terminal: SessionClosed = SessionClosed(f"the session is closed ({reason or 'closed'})")
            self._terminal_seen = True  # nothing to report at exit
        else:
            terminal = self._terminal_for(error)
            self._emit(GaveUp, error=error)
        self._terminal = terminal
        abandoned = self._send_buffer.close(terminal)
        if abandoned:
            self._send_buffer.dropped += abandoned
            self._emit(MessagesDropped, count=abandoned)
        self._receive_buffer.close(terminal)
        self._state = State.CLOSED
        self._state_changed.unpark_all()
        self._emit(
            Closed,
            code=self._close_code_sent,
            reason=request.reason if request is not None else str(terminal),
        )
        for channel in self._subscribers:
            channel.close()
        self._subscribers.clear()
        self._finished = True
        self._state_changed.unpark_all()

    def _terminal_for(self, error: BaseException) -> SessionClosed:
        if isinstance(error, HandshakeRejected) and not self._gave_up:
            return error
        if self._gave_up:
            limit = (
                f"{self._outage_attempts} attempts"
                if self._config.max_attempts is not None
                and self._outage_attempts >= self._config.max_attempts
                else f"{self._config.give_up_after} s without a connection"
            )
            message = f"gave up reconnecting after {limit}; last error: {error!r}"
        else:
            message = f"not retrying after a fatal error: {error!r}"
        terminal = ReconnectFailed(message, error)
        terminal.__cause__ = error
        return terminal

    def _terminal_or_closed(self) -> SessionClosed:
        self._terminal_seen = True
        return self._terminal or SessionClosed("the session is closing")

    # ------------------------------------------------------------------ helpers

    def _set_state(self, target: State) -> None:
        if self._state is State.CLOSING and target is not State.CLOSED:
            return  # closing wins over whatever the supervisor is doing
        self._state = check_transition(self._state, target)
        self._state_changed.unpark_all()

    def _emit(self, kind: type[E], *, generation: int | None = None, **fields: Any) -> None:
        if not self._subscribers and self._on_event is None:
            return
        event = kind(
            generation=self._generation if generation is None else generation,
            at=trio.current_time(),
            **fields,
        )
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event callback raised; the session goes on")
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self._events_dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)

    def _encode(self, message: Any) -> Message:
        if self._codec is not None:
            message = self._codec.encode(message)
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"a message must be str or bytes, got {type(message).__name__}")
        return message

    def _decode(self, raw: Message) -> Any:
        return raw if self._codec is None else self._codec.decode(raw)

    async def _wait_finished(self) -> None:
        while not self._finished:
            await self._state_changed.park()

    async def _wait_first_open(self) -> None:
        while self._generation == 0:
            if self._finished:
                raise self._terminal_or_closed()
            await self._state_changed.park()
