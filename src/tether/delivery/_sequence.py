"""Inbound sequence numbers: which inbound messages are new, which are duplicates (a
replay after a resume), and where numbers are missing. Pure: no I/O, no trio."""

from __future__ import annotations

import enum

import attrs

__all__ = ["InboundSequence", "Observation", "Verdict"]


class Verdict(enum.Enum):
    """What :meth:`InboundSequence.observe` made of a sequence number."""

    NEW = "new"
    """The next number expected (or the first one seen): deliver it."""
    DUPLICATE = "duplicate"
    """At or below the last number seen: a replay; drop it."""
    GAP = "gap"
    """Above the next number expected: deliver it, and report the numbers skipped."""


@attrs.frozen
class Observation:
    """A verdict, and for a ``GAP`` the first number missing (``expected``) and how many
    are (``missing``: ``received - expected``)."""

    verdict: Verdict
    expected: int | None = None
    missing: int = 0


_NEW = Observation(Verdict.NEW)
_DUPLICATE = Observation(Verdict.DUPLICATE)


class InboundSequence:
    """The last sequence number delivered, and the verdict on each new one.

    A server numbers its messages 1, 2, 3 ... (any start); over one connection they
    arrive in order, and a resume replays from a number the client names, so a number
    at or below ``last`` has been delivered already. ``last`` starts as ``None`` (the
    first number seen is new, whatever it is) or as a number the application kept
    (then a first number above ``last + 1`` is a gap).
    """

    __slots__ = ("duplicates", "gaps", "last", "missing")

    def __init__(self, last: int | None = None) -> None:
        self.last = last
        #: Numbers dropped as duplicates, gaps reported, numbers skipped by gaps.
        self.duplicates = 0
        self.gaps = 0
        self.missing = 0

    def observe(self, number: int) -> Observation:
        """Judge ``number`` and, unless it is a duplicate, make it the last."""
        last = self.last
        if last is None or number == last + 1:
            self.last = number
            return _NEW
        if number <= last:
            self.duplicates += 1
            return _DUPLICATE
        self.last = number
        self.gaps += 1
        self.missing += number - last - 1
        return Observation(Verdict.GAP, expected=last + 1, missing=number - last - 1)

    def restart(self, last: int | None) -> None:
        """The server numbers afresh (a new session): ``last`` is the new last number
        (``None``: the next number seen is new, whatever it is). Counters are kept."""
        self.last = last
