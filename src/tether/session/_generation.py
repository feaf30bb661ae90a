"""One generation's record, how it ends, and the slot that says which generation (or
backoff sleep) is current.

A generation is one connect attempt and, once it opens, one connection's whole life. It
ends exactly once: the first outcome decided wins, and deciding it cancels the
generation's scope, so nothing of generation N runs on once N+1 starts.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from ..connection import ClientConnection
from ..exceptions import ConnectionLostError
from ..policy import WebSocketURL

__all__ = ["CloseRequest", "Generation", "GenerationSlot", "UserClose"]


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
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    opened: bool = False
    outcome: Outcome | None = None
    stream: trio.abc.Stream | None = None
    ws: ClientConnection | None = None
    #: The nursery of the generation's writing tasks while it is open to new ones.
    senders: trio.Nursery | None = None
    writer_running: bool = False
    #: A send() is writing from its own task right now.
    writing: bool = False
    opened_at: float = 0.0
    last_data_at: float = 0.0
    #: A write was cut off mid-frame: the stream holds a partial frame.
    write_interrupted: bool = False
    #: The code to close it with when superseded, if the outcome asked for one
    #: (``reconnect(code=...)``); else ``Config.supersede_close_code``.
    close_code: int | None = None

    on_end: Callable[[], None] | None = None

    def end(self, outcome: Outcome, *, close_code: int | None = None) -> None:
        """Decide how this generation ends (the first decision wins; ``close_code`` goes
        with it) and cancel it."""
        if self.outcome is None:
            self.outcome = outcome
            self.close_code = close_code
            if self.on_end is not None:
                self.on_end()
        self.scope.cancel()


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
