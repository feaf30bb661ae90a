"""Where the session is in its life: its :class:`tether.State`, the number of its
current generation, and how it ended. Everything that waits for a change parks here."""

from __future__ import annotations

import trio

from ..exceptions import SessionClosed
from ..state import State, check_transition

__all__ = ["Lifecycle"]


class Lifecycle:
    """The session's state machine (transitions checked by :func:`tether.state.
    check_transition`) and the parking lot its waiters share.

    ``CLOSING`` wins over whatever the supervisor does next; only ``CLOSED`` follows it.
    Once :attr:`finished`, :attr:`terminal` is the error that ``send``/``receive``
    raise; :attr:`terminal_seen` says whether the application has been shown it (if not,
    ``connect()`` raises it on exit).
    """

    __slots__ = ("changed", "finished", "generation", "state", "terminal", "terminal_seen")

    def __init__(self) -> None:
        self.state = State.CONNECTING
        self.changed = trio.lowlevel.ParkingLot()
        #: Number of the current (or last) open generation; 0 before the first opens.
        self.generation = 0
        self.finished = False
        self.terminal: SessionClosed | None = None
        self.terminal_seen = False

    def set_state(self, target: State) -> None:
        if self.state is State.CLOSING and target is not State.CLOSED:
            return
        self.state = check_transition(self.state, target)
        self.changed.unpark_all()

    def leave_open_state(self) -> None:
        """The open generation is ending: ``wait_connected()`` now waits for the next."""
        if self.state is State.OPEN:
            self.set_state(State.CONNECTING)

    def close(self, terminal: SessionClosed) -> None:
        """Enter ``CLOSED``; ``terminal`` is what callers get from now on."""
        self.terminal = terminal
        self.state = State.CLOSED
        self.changed.unpark_all()

    def finish(self) -> None:
        """The session is over: its final events are out, its channels closed."""
        self.finished = True
        self.changed.unpark_all()

    def terminal_or_closed(self) -> SessionClosed:
        """The error to raise to a caller that finds the session over (or closing)."""
        self.terminal_seen = True
        return self.terminal or SessionClosed("the session is closing")

    async def wait_finished(self) -> None:
        while not self.finished:
            await self.changed.park()

    async def wait_first_open(self) -> None:
        """Until generation 1 is open; raises the terminal error if the session ends
        first."""
        while self.generation == 0:
            if self.finished:
                raise self.terminal_or_closed()
            await self.changed.park()
