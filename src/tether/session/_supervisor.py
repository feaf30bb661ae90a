"""The supervisor: the session's one long-lived task. It runs connect attempts one at a
time in a retry loop, asks :mod:`tether.policy` whether to retry and how long to wait,
and ends the session when the user closes or the policy gives up.

Clocks: every deadline is on ``trio.current_time()``. The backoff sleep runs in a
cancel scope of its own that ``reconnect()`` and ``aclose()`` cancel.

The loop is ours, not tenacity's ``AsyncRetrying``: every decision in it (retry, stop,
wait, what to announce before the sleep) was already ours, tenacity's clock cannot be
used under Trio's, and its machinery stayed alive beneath every open connection (2 KiB
of an idle session: the retrying object's thread-local, its wrapped callbacks and the
call state). The order of the decisions is tenacity's: retry, wait, stop, announce, sleep.
"""

from __future__ import annotations

import random
import time

import trio

from .. import policy
from ..config import Config
from ..connection import map_error
from ..events import (
    BackingOff,
    Closed,
    ConnectionLost,
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
from ..state import State
from ._buffers import ReceiveBuffer, SendBuffer
from ._closing import Closer
from ._counters import Counters
from ._event_hub import EventHub
from ._generation import Generation, GenerationSlot, Rotation, UserClose
from ._groups import single_error
from ._lifecycle import Lifecycle
from ._runner import GenerationRunner, announce_attempt
from ._targets import Targets
from ._tracebacks import without_tracebacks

__all__ = ["Supervisor"]


class _Closing(Exception):
    """Raised out of an attempt to stop the retry loop because the user closed."""


class Supervisor:
    """The retry loop over generations, and the session's outages.

    An *outage* runs from the loss of a stable connection (or the session's start) to
    the next open generation; ``max_attempts`` and ``give_up_after`` count within it.
    """

    __slots__ = (
        "_closer",
        "_config",
        "_counters",
        "_gave_up",
        "_hub",
        "_last_attempt",
        "_last_attempt_opened",
        "_lifecycle",
        "_outage_attempts",
        "_outage_started_at",
        "_receive_buffer",
        "_retry_if",
        "_rng",
        "_runner",
        "_send_buffer",
        "_server_asked",
        "_skip_next_delay",
        "_slot",
        "_targets",
    )

    def __init__(
        self,
        targets: Targets,
        config: Config,
        *,
        rng: random.Random,
        runner: GenerationRunner,
        slot: GenerationSlot,
        closer: Closer,
        lifecycle: Lifecycle,
        counters: Counters,
        hub: EventHub,
        send_buffer: SendBuffer,
        receive_buffer: ReceiveBuffer,
    ) -> None:
        self._targets = targets
        self._config = config
        self._retry_if = config.retry_if or policy.default_retry_if
        self._rng = rng
        self._runner = runner
        self._slot = slot
        self._closer = closer
        self._lifecycle = lifecycle
        self._counters = counters
        self._hub = hub
        self._send_buffer = send_buffer
        self._receive_buffer = receive_buffer
        # The current outage: attempts since the last open connection, and since when.
        self._outage_attempts = 0
        self._outage_started_at = 0.0
        self._skip_next_delay = False
        self._gave_up = False
        self._last_attempt_opened = False
        #: Generation number of the latest connect attempt (for ``GaveUp``).
        self._last_attempt = 0
        #: Retry-After seconds of the error behind the upcoming backoff, for its event.
        self._server_asked: float | None = None

    # ------------------------------------------------------------------ the loop

    async def run(self, host: trio.Nursery | None = None) -> None:
        """Run connect attempts until the user closes, an attempt's error is not to be
        retried, the policy gives up, or we are cancelled; then end the session
        (:meth:`_finish`). Never raises but for cancellation. ``host``: the session
        nursery, where a rotation's successor runs (``None``: no rotation).

        An attempt (:meth:`_start_attempt`, then the runner) is one generation's whole
        life if it opens, and always ends by raising: :class:`_Closing` when the user
        closed the session, the attempt's error, or :class:`ConnectionLostError` once an
        open generation ends (:meth:`_after_generation`). For each retried error, in
        this order: the delay (:meth:`_next_delay`), whether to give up
        (:meth:`_should_stop`), the ``BackingOff`` announcement, the backoff sleep. The
        retry loop and the attempt are one method: each frame of the chain an idle
        session's task is suspended in is 250 bytes."""
        self._runner.host = host
        self._outage_started_at = trio.current_time()
        runner, slot = self._runner, self._slot
        error: BaseException | None = None
        generation: Generation | None = None
        last: Generation | None = None
        try:
            while True:
                try:
                    generation = self._start_attempt()
                    try:
                        try:
                            await runner.run(generation)
                        except BaseException:
                            await runner.end_rotations(generation)
                            raise
                        await runner.follow_rotations(generation)
                    except BaseException as crash:
                        # After a rotation the slot holds the successor: that is what ended.
                        self._raise_crash(slot.active or generation, crash)
                    finally:
                        last, slot.active = slot.active or generation, None
                    self._after_generation(last)
                except Exception as attempt_error:
                    if not self._should_retry(attempt_error):
                        raise
                    delay = self._next_delay(attempt_error)
                    if self._should_stop():
                        raise
                    self._before_sleep(delay, attempt_error)
                else:  # pragma: no cover - an attempt ends only by raising
                    return
                # Outside the except, and without the attempt's generations: neither
                # its error nor its connection is held through the sleep.
                generation = last = None
                await self._backoff_sleep(delay)
        except _Closing:
            pass
        except Exception as exc:
            # While the user is closing, whatever ends the last generation is part of
            # the close, not a reason to report failure.
            error = None if self._closer.request is not None else exc
        finally:
            self._finish(error)

    def supersede(self, detail: str, code: int) -> None:
        """``Session.reconnect()``: end the current generation (or backoff) and start a
        fresh outage with an immediate attempt; an open connection is closed with
        ``code``."""
        self._outage_attempts = 0
        self._outage_started_at = trio.current_time()
        self._lifecycle.leave_open_state()
        if self._slot.active is not None:
            # The generation's end goes through the retry decision: skip its delay once.
            self._skip_next_delay = True
            self._slot.active.end(
                ConnectionLostError(LostReason.SUPERSEDED, None, detail), close_code=code
            )
        else:
            # A backoff sleep's delay was already decided: cutting it is the immediate
            # attempt, and a flag left set would skip the next backoff too.
            self._slot.cut_sleep()

    def rotate(self, reason: str) -> Rotation | None:
        """``Session.rotate()``: start a make-before-break rotation of the open
        generation (:meth:`GenerationRunner.start_rotation`), or join the one under
        way; ``None`` when no generation is open and serving."""
        active = self._slot.active
        if active is None:
            return None
        return self._runner.start_rotation(active, reason)

    def _should_retry(self, error: BaseException) -> bool:
        if self._closer.closing_now() or isinstance(error, (_Closing, ConfigError)):
            return False  # a bad argument (headers made for this attempt) stays bad
        if isinstance(error, ConnectionLostError) and error.reason is LostReason.SUPERSEDED:
            return True
        return self._retry_if(error)

    def _should_stop(self) -> bool:
        # After supersede() the outage starts afresh (no attempts, no time yet): this
        # cannot give up then, whether or not _next_delay (run first) cleared the skip.
        config = self._config
        if config.max_attempts is not None and self._outage_attempts >= config.max_attempts:
            self._gave_up = True
        elapsed = trio.current_time() - self._outage_started_at
        if config.give_up_after is not None and elapsed >= config.give_up_after:
            self._gave_up = True
        return self._gave_up

    def _next_delay(self, error: Exception) -> float:
        self._server_asked = None
        if self._skip_next_delay:
            self._skip_next_delay = False
            return 0.0
        delay, self._server_asked = policy.next_delay(
            self._config.backoff,
            self._outage_attempts + 1,
            error,
            self._rng,
            now_wall=time.time(),
            elapsed=trio.current_time() - self._outage_started_at,
        )
        give_up_after = self._config.give_up_after
        if give_up_after is not None:
            remaining = self._outage_started_at + give_up_after - trio.current_time()
            delay = min(delay, max(0.0, remaining))
        return delay

    def _before_sleep(self, delay: float, error: Exception) -> None:
        if delay <= 0 and self._last_attempt_opened:
            return
        if delay > 0:
            self._lifecycle.set_state(State.BACKING_OFF)
        # The attempt's error is never raised again (retry_if has seen it; only the last
        # error of a session is), so the event may hold it without its tracebacks.
        self._hub.emit(
            BackingOff,
            self._lifecycle.generation + 1,
            attempt=self._outage_attempts + 1,
            delay=delay,
            error=without_tracebacks(error),
            retry_after=self._server_asked,
        )

    async def _backoff_sleep(self, delay: float) -> None:
        if delay <= 0:
            await trio.lowlevel.checkpoint()
            return
        with trio.CancelScope() as scope:
            self._slot.sleep_scope = scope
            if self._closer.closing_now():
                scope.cancel()
            await trio.sleep(delay)
        self._slot.sleep_scope = None

    # ------------------------------------------------------------------ one attempt

    def _start_attempt(self) -> Generation:
        """The next attempt's generation, made current (``slot.active``) and announced
        once its URL is known. Raises :class:`_Closing` if the user closed the session."""
        if self._closer.closing_now():
            raise _Closing
        self._outage_attempts += 1
        self._counters.attempts += 1
        attempt = self._outage_attempts
        # A failover list's URL is known now; a url callable's once the runner called
        # it for this attempt, and Connecting waits for it (it shows the URL).
        url = self._targets.fixed(attempt)
        generation = Generation(self._lifecycle.generation + 1, url, attempt)
        self._last_attempt = generation.number
        self._last_attempt_opened = False
        self._lifecycle.set_state(State.CONNECTING)
        if url is not None:
            announce_attempt(self._hub, generation, url)
        self._slot.active = generation
        return generation

    def _raise_crash(self, generation: Generation, error: BaseException) -> None:
        """Raise the one error behind a generation that raised, mapped at the edge
        (:func:`tether.connection.map_error`). A crash inside an open generation (a bug,
        or the user's codec) still gets its ``ConnectionLost``; then the policy decides."""
        single = single_error(error)
        if isinstance(single, trio.Cancelled):
            raise error
        mapped = map_error(single)
        if generation.opened:
            lost = ConnectionLostError(
                LostReason.TRANSPORT_ERROR, None, f"generation crashed: {mapped!r}"
            )
            if generation.outcome is None:
                generation.outcome = lost
            self._generation_down()
            self._report_lost(generation, lost)
            self._last_attempt_opened = True
        raise mapped from mapped.__cause__

    def _after_generation(self, generation: Generation) -> None:
        outcome = generation.outcome
        if generation.opened:
            self._last_attempt_opened = True
            self._generation_down()
            if isinstance(outcome, ConnectionLostError):
                self._report_lost(generation, outcome)
                raise outcome
            raise _Closing
        if isinstance(outcome, UserClose):
            raise _Closing
        if outcome is not None:
            raise outcome
        raise ConnectionResetError("the connection ended before it opened")  # pragma: no cover

    def _generation_down(self) -> None:
        self._lifecycle.leave_open_state()
        self._counters.connection_down(trio.current_time())

    def _report_lost(self, generation: Generation, lost: ConnectionLostError) -> None:
        self._counters.count_lost(lost.reason)
        now = trio.current_time()
        if now - generation.opened_at >= self._config.backoff.stable_after:
            # A stable connection ended the outage: this loss starts a fresh one.
            self._outage_attempts = 0
            self._outage_started_at = now
        self._hub.emit(
            ConnectionLost,
            generation.number,
            reason=lost.reason,
            code=lost.code,
            detail=lost.detail,
        )

    # ------------------------------------------------------------------ end of session

    def _finish(self, error: BaseException | None) -> None:
        lifecycle = self._lifecycle
        self._lifecycle.leave_open_state()
        self._counters.session_ended(trio.current_time())
        request = self._closer.request
        if error is None:
            reason = request.reason if request is not None else "cancelled"
            terminal: SessionClosed = SessionClosed(f"the session is closed ({reason or 'closed'})")
            lifecycle.terminal_seen = True  # nothing to report at exit
        else:
            terminal = self._terminal_for(error)
            # The attempt whose error ended the session: the generation its BackingOff
            # or ConnectionLost named, not the last open one.
            self._hub.emit(GaveUp, self._last_attempt, error=error, exhausted=self._gave_up)
        lifecycle.terminal = terminal
        abandoned = self._send_buffer.close(terminal)
        if abandoned:
            self._send_buffer.dropped += abandoned
            self._hub.emit(MessagesDropped, lifecycle.generation, count=abandoned)
        self._receive_buffer.close(terminal)
        lifecycle.close(terminal)
        self._hub.emit(
            Closed,
            lifecycle.generation,
            code=self._closer.code_sent,
            reason=request.reason if request is not None else str(terminal),
        )
        self._hub.close()
        lifecycle.finish()

    def _terminal_for(self, error: BaseException) -> SessionClosed:
        if isinstance(error, HandshakeRejected) and not self._gave_up:
            return error
        if self._gave_up:
            config = self._config
            limit = (
                f"{self._outage_attempts} attempts"
                if config.max_attempts is not None and self._outage_attempts >= config.max_attempts
                else f"{config.give_up_after} s without a connection"
            )
            message = f"gave up reconnecting after {limit}; last error: {error!r}"
        else:
            message = f"not retrying after a fatal error: {error!r}"
        terminal = ReconnectFailed(message, error)
        terminal.__cause__ = error
        return terminal
