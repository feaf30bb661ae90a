"""One generation's life: open it (stream and handshake, a new pair per redirect hop,
then ``on_connect``, all within ``connect_timeout``), serve it (deliver inbound
messages, run its writing tasks, wait for a close request), and tear it down, however
it ends.

Shape of a generation::

    ws nursery             the connection's reader (tether.connection): it hands each
    │                      message straight to the session's receive buffer (Inbound)
    ├── senders            writer (only while messages are queued; coalesces), idle
    │                      watchdog: each in its own cancel scope (Senders), ended
    │                      when serving ends, before the Close
    ├── open               stream + handshake + on_connect, under connect_timeout
    └── (this task)        drives the pinger (ping_interval / ping_timeout) and a
                           rotation's steps while it waits for aclose(); then flush,
                           Close frame, peer's Close

Ending the generation (reconnect(), loss, close: Generation.end) cancels whatever this
task awaits, each wait in a cancel scope of the generation's (Generation.cancel_scope),
but for where it parks while serving: there it is woken, and sees the end.

A rotation (``Session.rotate()``, ``Config.max_connection_age``) runs the successor's
whole life, the same shape, in a task of the session nursery, beside the old
generation; the supervisor's task waits for it (:meth:`GenerationRunner.
follow_rotations`). :class:`tether.session._generation.Rotation` has the steps.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence

import trio

from ..config import Config
from ..connection import ClientConnection, Opener, map_error, open_client
from ..events import Connected, Connecting, LostReason, Rotated, RotationFailed
from ..exceptions import ConfigError, ConnectionLostError, HandshakeRejected
from ..policy import (
    Hop,
    TokenBucket,
    WebSocketURL,
    follow_redirect,
    handshake_headers,
    redirect_location,
)
from ..protocol import Accepted
from ..state import State
from ._alarms import Alarm, set_alarm
from ._application import application_code
from ._buffers import ReceiveBuffer, SendBuffer
from ._closing import Closer
from ._counters import Counters
from ._encoding import MessageEncoding
from ._event_hub import EventHub
from ._generation import Generation, GenerationSlot, Rotation, Senders, UserClose
from ._groups import single_error
from ._handle import Connection
from ._inbound import Inbound
from ._keepalive import Pinger, watch_idle
from ._lifecycle import Lifecycle
from ._targets import Targets
from ._tracebacks import without_tracebacks
from ._writer import Writer

__all__ = ["GenerationRunner", "HeadersArg", "OnConnect", "announce_attempt"]

HeadersArg = Mapping[str, str] | Callable[[], Awaitable[Mapping[str, str]]] | None
OnConnect = Callable[[Connection], Awaitable[None]]


#: ``Rotated.reason`` of a rotation ``Config.max_connection_age`` started.
AGE_ROTATION = "max_connection_age"


def _rotation_step(generation: Generation) -> bool:
    """Drive ``generation``'s rotation (:class:`Rotation`) from the old generation's
    side: once the successor's handshake is done, start no new write; once the writes
    under way are done, say so. Returns whether the successor is ready to take over
    (its ``on_connect`` done)."""
    rotation = generation.rotation
    if rotation is None or not rotation.handshake_done:
        return False
    generation.retiring = True
    if not (generation.writer_running or generation.writing):
        rotation.writes_done.set()
    return rotation.on_connect_done


def announce_attempt(hub: EventHub, generation: Generation, url: WebSocketURL) -> None:
    """Emit the attempt's ``Connecting``, once its URL is known."""
    hub.emit(Connecting, generation.number, attempt=generation.attempt, url=url.redacted)


class GenerationRunner:
    """Runs generations for the supervisor, one at a time but for a rotation's
    overlap."""

    __slots__ = (
        "_closer",
        "_config",
        "_counters",
        "_encoding",
        "_fixed_host",
        "_headers",
        "_hub",
        "_lifecycle",
        "_on_connect",
        "_opener",
        "_origin",
        "_pacer",
        "_receive_buffer",
        "_send_buffer",
        "_slot",
        "_subprotocols",
        "_targets",
        "_user_agent",
        "_writer",
        "host",
    )

    def __init__(
        self,
        config: Config,
        *,
        targets: Targets,
        opener: Opener,
        headers: HeadersArg,
        subprotocols: Sequence[str],
        user_agent: str | None,
        origin: str | None,
        fixed_host: bool,
        on_connect: OnConnect | None,
        encoding: MessageEncoding,
        lifecycle: Lifecycle,
        counters: Counters,
        hub: EventHub,
        send_buffer: SendBuffer,
        receive_buffer: ReceiveBuffer,
        closer: Closer,
        writer: Writer,
        slot: GenerationSlot,
        pacer: TokenBucket | None = None,
    ) -> None:
        self._config = config
        self._targets = targets
        self._opener = opener
        self._headers = headers
        self._subprotocols = tuple(subprotocols)
        self._user_agent = user_agent
        self._origin = origin
        self._fixed_host = fixed_host
        self._on_connect = on_connect
        self._encoding = encoding
        self._lifecycle = lifecycle
        self._counters = counters
        self._hub = hub
        self._send_buffer = send_buffer
        self._receive_buffer = receive_buffer
        self._closer = closer
        self._writer = writer
        self._slot = slot
        self._pacer = pacer
        #: Where a rotation's successor runs: the session nursery (set by the
        #: supervisor); ``None``: no rotation can start.
        self.host: trio.Nursery | None = None

    async def run(self, generation: Generation, rotation: Rotation | None = None) -> None:
        """The generation's whole life; returns once it has ended and is torn down (its
        ``outcome`` says how), raises if it could not open. Exceptions may come as
        groups from the generation's nurseries. ``rotation``: the generation is that
        rotation's successor, and takes over from its predecessor once open
        (:meth:`_take_over`). A rotation of this generation that has not taken over
        when it ends is abandoned: its successor is closed unused."""
        try:
            async with trio.open_nursery() as ws_nursery:
                try:
                    ws = None
                    with generation.cancel_scope():
                        ws = await self._open(generation, ws_nursery, rotation)
                        if rotation is not None:
                            await self._take_over(rotation)
                    # Served unless it ended before it opened; a rotation's successor
                    # ended right after the hand-over (it is open) hands what it read on.
                    if ws is not None and (generation.opened or not generation.cancelled):
                        # Serving. Here, not in a method of its own: each frame of the chain
                        # an idle session's task is suspended in is 250 bytes. The task
                        # waits in no cancel scope of the generation's (a cancel scope is
                        # 0.6 KiB): Generation.end wakes it, and cancels the scope of its
                        # other waits (Generation.cancel_scope: a ping's write, the flush,
                        # the Close). It waits for a close request or a rotation's
                        # successor, and drives the pinger and the rotation between waits.
                        pinger = self._start_serving(generation, ws, ws_nursery, rotation)
                        alarm: Alarm | None = None
                        try:
                            while self._serving(generation) and not _rotation_step(generation):
                                alarm = self._next_alarm(generation, pinger, alarm)
                                await self._lifecycle.changed.park()
                                if not self._serving(generation):
                                    break
                                if pinger is not None:
                                    with generation.cancel_scope():
                                        await pinger.tick()
                                if (
                                    generation.rotation is None
                                    and trio.current_time() >= generation.rotate_at
                                ):
                                    self.start_rotation(generation, AGE_ROTATION)
                            await self._stop_serving(generation)
                        finally:
                            if alarm is not None:
                                alarm.cancel()
                            senders, generation.senders = generation.senders, None
                            generation.serve_lot = None
                            if senders is not None:
                                await senders.stop()
                        await self._close_served(generation, ws)
                finally:
                    with trio.CancelScope(shield=True):
                        await self._closer.teardown(generation)
                    ws_nursery.cancel_scope.cancel()
        finally:
            self._abandon_rotation(generation)

    async def follow_rotations(self, generation: Generation) -> None:
        """After :meth:`run` of ``generation`` returned: wait for the successors it
        handed over to (each ran in its own task), one after the other, until the last
        one's life ended (``slot.active`` is that one); re-raise what crashed one after
        it took over. Returns at once if no rotation took over. An abandoned
        successor is waited for too (its teardown is bounded by ``close_timeout``), so
        that nothing of it runs on once the attempt is over; if cancelled, that wait
        is shielded for the same reason."""
        holder = generation
        rotation = generation.rotation
        while rotation is not None:
            try:
                await rotation.finished.wait()
            except BaseException:
                with trio.CancelScope(shield=True):
                    await rotation.finished.wait()
                raise
            if not rotation.taken:
                return
            if rotation.crash is not None:
                # It crashed after it handed over in turn: end the one serving now.
                await self.end_rotations(rotation.successor)
                raise rotation.crash
            # Let the generations behind go: a week of rotations keeps no chain of them.
            holder.rotation = None
            holder = rotation.successor
            rotation = holder.rotation

    async def _open(
        self, generation: Generation, ws_nursery: trio.Nursery, rotation: Rotation | None = None
    ) -> ClientConnection:
        """The ``url`` callable (if the URL is not known yet), stream, handshake
        (following redirects) and ``on_connect``, all within ``connect_timeout`` (past
        it: ``TimeoutError``, retried). What the ``url`` callable or ``on_connect``
        raises is ``ApplicationError`` (not retried by default), but for a
        ``ConnectionLostError`` from the connection; a bad URL from the callable is a
        ``ConfigError``."""
        timeout = self._config.connect_timeout
        with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
            if generation.url is None:
                generation.url = await self._targets.make()
                announce_attempt(self._hub, generation, generation.url)
            headers = await self._attempt_headers()
            ws, accepted = await self._handshake(generation, ws_nursery, headers)
            generation.ws = ws
            if rotation is not None:
                await self._stop_predecessor_writes(rotation)
            if self._on_connect is not None:
                counters = self._counters
                connection = Connection(
                    ws,
                    accepted,
                    generation=generation.number,
                    url=generation.url.redacted,
                    attempt=generation.attempt,
                    last_message_at=counters.last_message_at,
                    messages_received=counters.messages_received,
                    encode=self._encoding.encode,
                    decode=self._encoding.decode,
                    counters=counters,
                    pacer=self._pacer,
                )
                with application_code("on_connect"):
                    await self._on_connect(connection)
            return ws
        assert deadline.cancelled_caught
        shown = "while the url callable ran" if generation.url is None else generation.url.redacted
        raise TimeoutError(f"connect attempt timed out after {timeout} s ({shown})")

    async def _handshake(
        self, generation: Generation, ws_nursery: trio.Nursery, headers: Mapping[str, str]
    ) -> tuple[ClientConnection, Accepted]:
        """A stream and the opening handshake to ``generation.url``; while the server
        redirects (:func:`tether.policy.redirect_location`), close that stream and do the
        same to where it points (:func:`tether.policy.follow_redirect`, which raises
        ``RedirectError`` for a hop it refuses). ``generation.url`` ends as the URL that
        accepted; the next attempt starts again from the configured one."""
        assert generation.url is not None  # known, or made by the url callable first
        chain = [generation.url]
        hop = Hop(generation.url, credentials=True)
        while True:
            extra_headers = handshake_headers(
                headers,
                authorization=hop.url.authorization,
                user_agent=self._user_agent,
                origin=self._origin,
                credentials=hop.credentials,
            )
            generation.url = url = hop.url
            generation.stream = await self._opener(url.host, url.port, url.tls)
            try:
                return await open_client(
                    ws_nursery,
                    generation.stream,
                    host=url.host_header,
                    resource=url.resource,
                    subprotocols=self._subprotocols,
                    extra_headers=extra_headers,
                    max_message_size=self._config.max_message_size,
                    max_waiting_bytes=self._config.receive_buffer_bytes,
                    generation=generation.number,
                    compression=self._config.compression,
                    traffic=self._counters.traffic,
                )
            except HandshakeRejected as rejected:
                location = redirect_location(rejected.status_code, rejected.headers)
                if location is None:
                    raise
            hop = follow_redirect(
                chain, location, credentials=hop.credentials, fixed_host=self._fixed_host
            )
            chain.append(hop.url)
            stream, generation.stream = generation.stream, None
            await trio.aclose_forcefully(stream)

    async def _attempt_headers(self) -> Mapping[str, str]:
        """This attempt's ``headers``: the mapping given, or what the callable made (once
        per attempt, for every hop of it; checked by ``handshake_headers`` per hop).
        Raises ``ConfigError``, which the supervisor never retries, or
        ``ApplicationError`` if the callable raised."""
        headers: object = self._headers
        if headers is None:
            return {}
        if callable(headers):
            with application_code("headers"):
                made = headers()
            if not inspect.isawaitable(made):
                raise ConfigError(
                    f"headers: the callable must be async (return an awaitable mapping), "
                    f"got {type(made).__name__}"
                )
            with application_code("headers"):
                headers = await made
            if not isinstance(headers, Mapping):
                raise ConfigError(
                    f"headers: the callable must return a mapping of str to str, "
                    f"got {type(headers).__name__}"
                )
        assert isinstance(headers, Mapping)
        return headers

    def _start_serving(
        self,
        generation: Generation,
        ws: ClientConnection,
        ws_nursery: trio.Nursery,
        rotation: Rotation | None,
    ) -> Pinger | None:
        """The generation is open: mark it so (a rotation's successor was marked by the
        hand-over, :meth:`_hand_over`), hand the connection its sink, start its writing
        tasks (the writer only while messages are queued; the idle watchdog) unless it
        has ended already. Returns the pinger the generation's task drives, if pings
        are on and it has not ended."""
        config = self._config
        if rotation is None:
            self._mark_open(generation)
        inbound = Inbound(
            generation,
            ws,
            receive_buffer=self._receive_buffer,
            send_buffer=self._send_buffer,
            counters=self._counters,
            changed=self._lifecycle.changed,
        )
        for message in ws.serve(inbound):
            # on_connect left these (at most 64, and receive_buffer_bytes): they go first,
            # even past the buffer's bounds; the reader then waits until it is below them.
            self._receive_buffer.put(message)
            self._counters.messages_received += 1
        if ws.ended:
            inbound.connection_ended()
        if generation.cancelled:
            return None  # ended already (a successor, in the hand-over step): no tasks
        generation.serve_lot = self._lifecycle.changed
        generation.senders = Senders(ws_nursery)
        if config.idle_timeout is not None:
            generation.senders.start_soon(
                watch_idle, generation, config.idle_timeout, self._receive_buffer
            )
        self._writer.ensure_writer()
        if config.ping_interval is None or config.ping_timeout is None:
            return None
        return Pinger(
            generation,
            ws,
            config.ping_interval,
            config.ping_timeout,
            self._receive_buffer,
            self._counters,
        )

    def _serving(self, generation: Generation) -> bool:
        """Neither a close request nor the generation's end has come."""
        return self._closer.request is None and not generation.cancelled

    def _next_alarm(
        self, generation: Generation, pinger: Pinger | None, alarm: Alarm | None
    ) -> Alarm | None:
        """The alarm that wakes the generation's task when the pinger or the age
        rotation is next due (``alarm`` if it is still the right one; none when
        nothing is due)."""
        wake_at = math.inf if pinger is None else pinger.wake_at
        if generation.rotation is None:
            wake_at = min(wake_at, generation.rotate_at)
        if alarm is not None and alarm.deadline == wake_at:
            return alarm
        if alarm is not None:
            alarm.cancel()
        return None if wake_at == math.inf else set_alarm(wake_at, self._lifecycle.changed)

    async def _stop_serving(self, generation: Generation) -> None:
        """The generation's task stops waiting (whatever ended it): without a close
        request, its rotation's successor takes over; with one, the rotation is
        abandoned and what is queued is flushed (unless forced, until its deadline)."""
        if generation.cancelled:
            return  # ended: run() tears it down
        request = self._closer.request
        if request is None:
            self._hand_over(generation)
            return
        self._abandon_rotation(generation)
        if request.flush and not request.forced:
            with generation.cancel_scope(), trio.move_on_at(request.deadline):
                await self._send_buffer.wait_empty()
        if generation.outcome is None:
            generation.outcome = UserClose(request)

    async def _close_served(self, generation: Generation, ws: ClientConnection) -> None:
        """Serving is over and the writing tasks have ended: unless the generation has
        ended meanwhile (then :meth:`run` tears it down), close it the way its outcome
        says (:meth:`Closer.close_open_generation`) and end it."""
        if generation.cancelled:
            return
        outcome = generation.outcome
        assert outcome is not None  # set by _stop_serving
        with generation.cancel_scope():
            await self._closer.close_open_generation(generation, ws)
        generation.end(outcome)

    async def end_rotations(self, generation: Generation) -> None:
        """:meth:`run` of ``generation`` raised: end the generation that took over from
        it, if one did (the error is reported as that one's, and the session must not
        run two), then wait, shielded, until every successor's task has ended (each
        teardown is bounded by ``close_timeout``)."""
        rotation = generation.rotation
        if rotation is None:
            return
        active = self._slot.active
        if rotation.taken and active is not None:
            active.end(
                ConnectionLostError(
                    LostReason.TRANSPORT_ERROR,
                    None,
                    f"generation {generation.number} crashed after its rotation",
                )
            )
        with trio.CancelScope(shield=True):
            followed: Rotation | None = rotation
            while followed is not None:
                await followed.finished.wait()
                followed = followed.successor.rotation if followed.taken else None

    # ------------------------------------------------------------------ rotation

    def start_rotation(self, generation: Generation, reason: str) -> Rotation | None:
        """Start replacing the open ``generation`` without downtime (make-before-break):
        a successor generation opens in a task of its own while ``generation`` serves
        on. Returns the rotation under way (an earlier one, if one is), ``None`` if
        ``generation`` is not open and serving. Never blocks."""
        if generation.rotation is not None:
            return generation.rotation
        host = self.host
        if host is None or not generation.opened or generation.outcome is not None:
            return None
        # Where the session is connected (a failover list's URL of this attempt, before
        # redirects), not the list's first: that one may be down.
        # Its attempt number is the predecessor's: the attempt whose URL it goes to.
        url = self._targets.fixed(generation.attempt)
        successor = Generation(generation.number + 1, url, generation.attempt)
        rotation = Rotation(reason, successor)
        generation.rotation = rotation
        self._counters.attempts += 1
        if url is not None:
            announce_attempt(self._hub, successor, url)
        host.start_soon(self._run_successor, generation, rotation)
        return rotation

    async def _run_successor(self, predecessor: Generation, rotation: Rotation) -> None:
        """The task of a rotation's successor (in the session nursery, so that it
        outlives its predecessor's nurseries): its whole life, from the opening beside
        ``predecessor`` on. An error before it took over fails the rotation (the
        predecessor serves on); after, it is kept for :meth:`follow_rotations`, whose
        task, the supervisor's, raises it as any generation's."""
        try:
            await self.run(rotation.successor, rotation)
        except BaseException as error:
            single = single_error(error)
            if not isinstance(single, Exception):
                raise  # cancelled: the session nursery is, and the supervisor with it
            if rotation.taken:
                rotation.crash = error
            else:
                self._rotation_failed(predecessor, rotation, map_error(single))
        finally:
            rotation.settle(False)  # ended before it took over; no effect once taken
            rotation.done.set()
            rotation.finished.set()

    async def _stop_predecessor_writes(self, rotation: Rotation) -> None:
        """The successor's handshake is done: its predecessor starts no new write; wait
        until those under way are done (within ``connect_timeout``, as the rest of the
        opening), so that ``on_connect`` comes after everything the old connection
        wrote."""
        rotation.handshake_done = True
        self._lifecycle.changed.unpark_all()
        await rotation.writes_done.wait()

    async def _take_over(self, rotation: Rotation) -> None:
        """The successor is open (``on_connect`` done): its predecessor hands over
        (:meth:`_hand_over`). Cancelled if it abandons the rotation instead."""
        rotation.on_connect_done = True
        self._lifecycle.changed.unpark_all()
        await rotation.decided.wait()

    def _hand_over(self, generation: Generation) -> None:
        """``generation``'s successor takes over: it becomes the slot's generation (sends
        go to it, directly or queued until its writer starts), and ``generation`` ends
        as superseded, closed with
        ``Config.supersede_close_code`` by its teardown, its reader delivering what the
        server sent before its Close. Not a loss: no ``ConnectionLost``, the state stays
        ``OPEN``."""
        rotation = generation.rotation
        assert rotation is not None
        assert rotation.on_connect_done
        generation.on_end = None
        self._slot.active = rotation.successor
        self._mark_open(rotation.successor, generation)
        generation.outcome = ConnectionLostError(
            LostReason.SUPERSEDED,
            None,
            f"rotated ({rotation.reason}): generation {rotation.successor.number} took over",
        )
        generation.close_code = self._config.supersede_close_code
        rotation.settle(True)

    def _abandon_rotation(self, generation: Generation) -> None:
        """``generation`` ends (or closes) before its successor took over: the successor
        is closed unused, and ``generation`` writes again."""
        rotation = generation.rotation
        if rotation is None or rotation.taken is not None:
            return
        generation.retiring = False
        request = self._closer.request
        rotation.successor.end(
            UserClose(request)
            if request is not None
            else ConnectionLostError(
                LostReason.SUPERSEDED,
                None,
                f"rotation abandoned: generation {generation.number} ended first",
            )
        )
        rotation.settle(False)
        self._writer.ensure_writer()

    def _rotation_failed(
        self, predecessor: Generation, rotation: Rotation, error: BaseException
    ) -> None:
        """The successor could not open: ``predecessor`` serves on; an age rotation is
        tried again ``Backoff.maximum`` seconds later."""
        if predecessor.rotation is rotation:
            predecessor.rotation = None
            predecessor.retiring = False
            self._writer.ensure_writer()  # what was queued meanwhile
        if rotation.reason == AGE_ROTATION:
            predecessor.rotate_at = trio.current_time() + self._config.backoff.maximum
        rotation.settle(False, error)
        self._hub.emit(
            RotationFailed,
            predecessor.number,
            reason=rotation.reason,
            error=without_tracebacks(error),
        )
        self._lifecycle.changed.unpark_all()

    def _mark_open(self, generation: Generation, previous: Generation | None = None) -> None:
        """``generation`` is the open one from now on: its times, the state, the
        counters, ``Connected`` (and ``Rotated`` when it takes over from ``previous``,
        whose ``opened_at`` it keeps: the session has been connected since then, and a
        loss soon after a rotation of a stable connection is a stable connection's
        loss). No checkpoint: for a rotation it happens in the same step as the
        hand-over."""
        now = trio.current_time()
        lifecycle = self._lifecycle
        config = self._config
        generation.opened = True
        generation.on_end = lifecycle.leave_open_state
        generation.opened_at = generation.last_data_at = now
        if previous is not None:
            generation.opened_at = previous.opened_at
        if config.max_connection_age is not None:
            generation.rotate_at = now + config.max_connection_age
        lifecycle.generation = generation.number
        self._counters.connection_up(now)
        if lifecycle.state not in (State.CLOSING, State.OPEN):
            lifecycle.set_state(State.OPEN)
        assert generation.url is not None  # known before the stream was opened
        self._hub.emit(
            Connected, generation.number, url=generation.url.redacted, attempt=generation.attempt
        )
        if previous is not None:
            rotation = previous.rotation
            assert rotation is not None
            self._hub.emit(
                Rotated, generation.number, previous=previous.number, reason=rotation.reason
            )
            rotation.done.set()
