"""The books of ``tether demo``'s application: :class:`Ledger` knows, by message
number, which messages were sent and which echoes came back, so that the summary can
say what was lost, repeated or out of order. It resends nothing: keeping what is not
acknowledged and writing it again after a reconnect is ``tether.delivery``'s job.

The application's messages are ``{"id": n, "text": "msg-<n>"}`` (:func:`message`);
the server's echo of one is ``{"echo": "msg-<n>", "reply_to": n, "seq": ...}``.
"""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["Ledger", "message"]


def message(number: int) -> dict[str, Any]:
    """The application's message ``number`` (from 1); its id is the number."""
    return {"id": number, "text": f"msg-{number}"}


class Ledger:
    """Which messages were sent and which echoes came back, by message number."""

    def __init__(self) -> None:
        self.submitted = 0
        self.written: set[int] = set()
        self.echoed: set[int] = set()
        self.repeated = 0
        self.out_of_order = 0
        self.unexpected = 0
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

    def record_echo(self, received: object) -> None:
        """Account for one message the application received from the server: the echo
        of message ``n`` names it with ``"reply_to": n`` and carries its text."""
        number = _echoed_number(received)
        if number is None:
            self.unexpected += 1
            return
        if number in self.echoed:
            self.repeated += 1
        else:
            if number < self._highest:
                self.out_of_order += 1
            self.echoed.add(number)
            self._highest = max(self._highest, number)
        self._notify()

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


def _echoed_number(received: object) -> int | None:
    """The number of the message ``received`` echoes, or ``None`` if it is no echo."""
    if not isinstance(received, dict):
        return None
    number = received.get("reply_to")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return None
    if received.get("echo") != f"msg-{number}":
        return None
    return number
