"""Paced sends (``Config.send_rate``): when may the next outbound message go? A token
bucket, kept as the generic cell rate algorithm (GCRA, ITU-T I.371; the "virtual
scheduling" form): one number, the theoretical arrival time ``TAT``, instead of a
token count refilled by a timer. Pure: the caller passes the time in.

With ``T = per / messages`` (the steady interval) and ``burst`` tokens, a message may
go at time ``t`` when ``t >= TAT - (burst - 1) * T``, and sending it moves ``TAT`` to
``max(TAT, t) + T``. While the bucket is busy, ``TAT`` is ``epoch + k * T``: it is
kept as the time ``epoch`` it was last idle and the count ``k`` of messages charged
since, and every time is computed as ``epoch + n * per / messages`` from whole
numbers, never by adding ``T`` again and again. So 20 messages at 5 per second with a
burst of 5 leave at exactly 0 (five), then 1/5, 2/5, 3/5 ... 15/5 seconds, with no
rounding drift however long the stream.
"""

from __future__ import annotations

import math

from ..config import Rate

__all__ = ["TokenBucket"]


class TokenBucket:
    """The pacing of one session's outbound messages (see the module docstring).

    Times are seconds on the caller's clock (``trio.current_time()``), passed in;
    they must not go backwards."""

    __slots__ = ("_burst", "_charged", "_epoch", "_messages", "_per", "rate")

    def __init__(self, rate: Rate, now: float = 0.0) -> None:
        self.rate = rate
        self._messages = rate.messages
        self._per = rate.per
        self._burst = rate.burst
        self._epoch = now
        self._charged = 0

    def _at(self, n: int) -> float:
        """``epoch + n * T``, from whole numbers."""
        return self._epoch + (n * self._per) / self._messages

    def _settle(self, now: float) -> None:
        """A bucket idle since before ``now`` (``now > TAT``) starts again from ``now``,
        full. At ``now == TAT`` exactly it keeps its epoch: a stream at the steady rate
        stays on ``epoch + n * T``, never re-based on a rounded time."""
        if now > self._at(self._charged):
            self._epoch = now
            self._charged = 0

    def _release(self, j: int) -> float:
        """When the ``j``-th message after those charged (0: the next) may go."""
        return self._at(self._charged + j - self._burst + 1)

    def available(self, now: float) -> int:
        """How many messages may go at ``now`` (0 to ``burst``)."""
        self._settle(now)
        burst = self._burst
        elapsed = (now - self._epoch) * self._messages / self._per
        guess = min(burst, max(0, math.floor(elapsed) - self._charged + burst))
        while guess > 0 and self._release(guess - 1) > now:
            guess -= 1
        while guess < burst and self._release(guess) <= now:
            guess += 1
        return guess

    def next_at(self, now: float) -> float:
        """When the next message may go: ``now`` if one may go now."""
        if self.available(now):
            return now
        return self._release(0)

    def take(self, count: int, now: float) -> None:
        """Charge ``count`` messages sent at ``now`` (at most :meth:`available`)."""
        assert 0 < count <= self.available(now)
        self._charged += count

    def reserve(self, now: float) -> float:
        """Charge one message now and return when it may go (``now``, or later: the
        caller waits until then). Later messages queue behind it."""
        self._settle(now)
        at = max(now, self._release(0))
        self._charged += 1
        return at
