"""One generation's record, how it ends, and the slot that says which generation (or
backoff sleep) is current.

A generation is one connect attempt and, once it opens, one connection's whole life. It
ends exactly once: the first outcome decided wins, and ending it cancels what its task
awaits (or wakes that task where it waits for news), so nothing of generation N runs on
once N+1 starts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Iterator

import attrs
import trio

from ..connection import ClientConnection
from ..exceptions import ConnectionLostError
from ..policy import WebSocketURL

__all__ = ["CloseRequest", "Generation", "GenerationSlot", "Rotation", "Senders", "UserClose"]


@attrs.define
class CloseRequest:
    """What ``aclose()`` (or ``connect()``'s exit) asked for. ``deadline`` is on
    ``trio.current_time()``; ``forced``: stop flushing, close now."""

    code: int
    reason: str
    flush: bool
    deadline: float
    forced: bool = False


@attrs.define(eq=False)
class UserClose:
    """A generation's outcome when the user closed the session."""

    request: CloseRequest


Outcome = ConnectionLostError | UserClose


@attrs.define(eq=False)
class Generation:
    """One connect attempt and, once it opens, one connection's life."""

    number: int
    #: ``None`` until the ``url`` callable returned this attempt's URL.
    url: WebSocketURL | None
    attempt: int
    #: :meth:`end` was called: what the generation's task awaits is cancelled, and it
    #: enters no new wait but its teardown.
    cancelled: bool = False
    #: The cancel scope of the generation's task's current wait, if any
    #: (:meth:`cancel_scope`).
    scope: trio.CancelScope | None = None
    #: Where the generation's task parks while it serves, between its waits: :meth:`end`
    #: unparks it (a scope kept alive for the whole idle connection would be 0.6 KiB).
    serve_lot: trio.lowlevel.ParkingLot | None = None
    opened: bool = False
    outcome: Outcome | None = None
    stream: trio.abc.Stream | None = None
    ws: ClientConnection | None = None
    #: The generation's writing tasks, while it is open to new ones.
    senders: Senders | None = None
    writer_running: bool = False
    #: A send() is writing from its own task right now.
    writing: bool = False
    #: When it opened; a rotation's successor keeps its predecessor's (the session has
    #: been connected since: what ``Backoff.stable_after`` is judged by).
    opened_at: float = 0.0
    last_data_at: float = 0.0
    #: A write was cut off mid-frame: the stream holds a partial frame.
    write_interrupted: bool = False
    #: The code to close it with when superseded, if the outcome asked for one
    #: (``reconnect(code=...)``); else ``Config.supersede_close_code``.
    close_code: int | None = None

    #: The make-before-break rotation of this open generation under way, if any.
    rotation: Rotation | None = None
    #: A rotation's successor is open: no new write starts here (sends queue for the
    #: successor, which takes over once this one's writes under way are done).
    retiring: bool = False
    #: ``trio.current_time()`` at which ``Config.max_connection_age`` next rotates it
    #: (``inf`` without one).
    rotate_at: float = math.inf

    on_end: Callable[[], None] | None = None

    def end(self, outcome: Outcome, *, close_code: int | None = None) -> None:
        """Decide how this generation ends (the first decision wins; ``close_code`` goes
        with it) and cancel it: the wait of its task (in :meth:`cancel_scope`) and of
        its writing tasks (:class:`Senders`) is cancelled, and its task is woken where
        it parks while serving (``serve_lot``)."""
        if self.outcome is None:
            self.outcome = outcome
            self.close_code = close_code
            if self.on_end is not None:
                self.on_end()
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()
        if self.serve_lot is not None:
            self.serve_lot.unpark_all()
        if self.senders is not None:
            self.senders.cancel()

    @contextlib.contextmanager
    def cancel_scope(self) -> Iterator[None]:
        """Run the body (one wait of the generation's task) in a cancel scope that
        :meth:`end` cancels (cancelled from the start once it has ended); the
        cancellation ends the body, not the caller. Not nested: one at a time."""
        scope = trio.CancelScope()
        if self.cancelled:
            scope.cancel()
        self.scope = scope
        try:
            with scope:
                yield
        finally:
            self.scope = None


class Senders:
    """The writing tasks of an open generation (the writer while messages are queued,
    the idle watchdog): run in the generation's nursery, beside the reader, each in a
    cancel scope of its own, so that :meth:`stop` ends them and leaves the reader
    reading (the peer's Close is still to come). Not a nursery of their own: an idle
    session, which has no writing task, keeps only this record (a nursery is 1.3 KiB).

    :meth:`Generation.end` cancels them with the generation's own wait, so no write of a
    superseded generation starts. An error a task raises goes to the generation's
    nursery, which ends the generation as a nursery of their own did.
    """

    __slots__ = ("_ended", "_nursery", "_running", "_scopes", "_stopped")

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        # A handful at most (the writer, the watchdog): a list (a set is 216 bytes), made
        # for the first task (an idle session without idle_timeout has none).
        self._scopes: list[trio.CancelScope] | None = None
        self._running = 0
        self._stopped = False
        self._ended: trio.Event | None = None

    def start_soon(self, task: Callable[..., Awaitable[object]], *args: object) -> None:
        """Start ``task(*args)`` in the generation's nursery; once :meth:`stop` was
        called it does not run."""
        self._nursery.start_soon(self._run, task, args)
        self._running += 1

    async def _run(self, task: Callable[..., Awaitable[object]], args: tuple[object, ...]) -> None:
        try:
            if self._stopped:
                return
            with trio.CancelScope() as scope:
                if self._scopes is None:
                    self._scopes = []
                scopes = self._scopes
                scopes.append(scope)
                try:
                    await task(*args)
                finally:
                    scopes.remove(scope)
        finally:
            self._running -= 1
            if not self._running and self._ended is not None:
                self._ended.set()

    def cancel(self) -> None:
        """Cancel every task and start no new one (a task started but not yet running
        does not run)."""
        self._stopped = True
        for scope in self._scopes or ():
            scope.cancel()

    async def stop(self) -> None:
        """:meth:`cancel`, then wait until every task has ended. Cancelled itself, it
        goes on waiting (shielded): nothing of them runs on once it returns."""
        self.cancel()
        if self._running:
            self._ended = trio.Event()
            with trio.CancelScope(shield=True):
                await self._ended.wait()


@attrs.define(eq=False)
class Rotation:
    """A make-before-break rotation of an open generation (``Session.rotate()`` or
    ``Config.max_connection_age``), in three steps while the old one serves on:

    1. the ``successor`` opens beside it (stream, handshake), and asks it to stop
       writing (``handshake_done``): the old one starts no new write;
    2. once the old one's writes under way are done (``writes_done``: everything it
       will ever write is written), ``on_connect`` runs on the successor
       (``on_connect_done``), so what it sends (a resume, resent messages) follows
       the old connection's last message, and nothing newer goes to the old one;
    3. the successor takes over (``taken``); the old one closes behind it.

    ``taken`` is ``None`` while undecided, ``True`` once the successor serves, ``False``
    when it failed (``error``) or was abandoned (the old generation ended first, or the
    session began closing). ``done`` is set when ``taken`` is final.
    """

    reason: str
    successor: Generation
    handshake_done: bool = False
    writes_done: trio.Event = attrs.field(factory=trio.Event)
    on_connect_done: bool = False
    taken: bool | None = None
    error: BaseException | None = None
    #: Set by the old generation's task once it has decided (``taken``).
    decided: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    #: The successor's task has ended; ``crash``: what it raised after it took over.
    finished: trio.Event = attrs.field(factory=trio.Event)
    crash: BaseException | None = None

    def settle(self, taken: bool, error: BaseException | None = None) -> None:
        """Decide the rotation (the first decision wins) and wake its waiters."""
        if self.taken is None:
            self.taken = taken
            self.error = error
        self.decided.set()
        if not self.taken:
            self.done.set()


class GenerationSlot:
    """The current generation, or the backoff sleep between two; ``None`` when neither.
    Superseding and closing act through it."""

    __slots__ = ("active", "sleep_scope")

    def __init__(self) -> None:
        self.active: Generation | None = None
        self.sleep_scope: trio.CancelScope | None = None

    def cut_sleep(self) -> None:
        """End the backoff sleep under way, if any."""
        if self.sleep_scope is not None:
            self.sleep_scope.cancel()
