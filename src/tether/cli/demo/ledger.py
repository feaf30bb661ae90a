"""The books of ``tether demo``'s application: :class:`Ledger` knows, by message
number, which ``msg-<n>`` were written and which echoes came back, so it can say what to
replay after a reconnect, what was duplicated or out of order, and what was lost.
"""

from __future__ import annotations

import re

import trio

__all__ = ["Ledger"]

_MESSAGE = re.compile(r"msg-(\d+)")


class Ledger:
    """Which messages were sent and which echoes came back, by message number."""

    def __init__(self) -> None:
        self.submitted = 0
        self.written: set[int] = set()
        self.echoed: set[int] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.unexpected = 0
        self.replayed = 0
        self._highest = 0
        self._changed = trio.Event()

    def submit(self) -> int:
        """Number the next message (from 1)."""
        self.submitted += 1
        return self.submitted

    def wrote(self, number: int) -> None:
        """``send()`` returned for message ``number``: it is on the wire."""
        self.written.add(number)
        self._notify()

    def record_echo(self, message: object) -> None:
        """Account for one message received from the server."""
        match = _MESSAGE.fullmatch(message) if isinstance(message, str) else None
        if match is None:
            self.unexpected += 1
            return
        number = int(match.group(1))
        if number in self.echoed:
            self.duplicates += 1
        else:
            if number < self._highest:
                self.out_of_order += 1
            self.echoed.add(number)
            self._highest = max(self._highest, number)
        self._notify()

    def unacknowledged(self) -> list[int]:
        """Numbers written (``send()`` returned) whose echo has not arrived, ascending.

        A message still inside ``send()`` is not included: the session owns it until
        ``send()`` returns, and writes it again itself if its write was cut off."""
        return sorted(self.written - self.echoed)

    def lost(self) -> int:
        """Messages handed to ``send()`` whose echo never arrived, whether ``send()``
        returned or not: a send that never returns loses its message as surely as a
        write that vanished (see :meth:`never_returned`)."""
        return sum(1 for number in range(1, self.submitted + 1) if number not in self.echoed)

    def never_returned(self) -> int:
        """Messages whose ``send()`` had not returned when the demo stopped, and whose
        echo never arrived: a session that stopped writing shows up here."""
        return sum(
            1
            for number in range(1, self.submitted + 1)
            if number not in self.written and number not in self.echoed
        )

    async def wait_all_echoed(self) -> None:
        """Wait until every submitted message has been echoed."""
        while self.lost():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
