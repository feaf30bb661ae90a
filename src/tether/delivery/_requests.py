"""Requests waiting for their replies, by request id. Pure: no I/O, no trio; what
waits (the shell's waiter) is opaque here."""

from __future__ import annotations

from collections.abc import Hashable

from ..exceptions import ConfigError

__all__ = ["RequestTable"]


class RequestTable:
    """Request ids to their waiters; a reply names its request's id."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[Hashable, object] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, request_id: Hashable, waiter: object) -> None:
        """Wait for the reply to ``request_id``. Raises ``ConfigError`` if a request
        with that id is waiting already (its reply could not be told apart)."""
        if request_id in self._waiting:
            raise ConfigError(f"request: id {request_id!r} is already waiting for its reply")
        self._waiting[request_id] = waiter

    def match(self, reply_to: Hashable) -> object | None:
        """The waiter of the request ``reply_to`` names, removed; ``None`` if none waits
        (a late reply to a request that timed out, or a reply to someone else)."""
        return self._waiting.pop(reply_to, None)

    def discard(self, request_id: Hashable, waiter: object) -> None:
        """Stop waiting for ``request_id`` (timed out, cancelled), if ``waiter`` still
        waits for it."""
        if self._waiting.get(request_id) is waiter:
            del self._waiting[request_id]

    def close(self) -> list[object]:
        """Remove and return every waiter."""
        waiters = list(self._waiting.values())
        self._waiting.clear()
        return waiters
