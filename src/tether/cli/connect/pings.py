"""``tether connect --show-ping``: every ping and pong on screen, with the round trip.

Pings are seen through the ``tether.protocol`` logger (set to DEBUG for it): a handler
picks the Ping and Pong frame records out of it and prints ``> ping`` when one of ours
goes out, ``< pong 0.42 ms`` when its answer comes (the round trip measured between the
two records), and ``< ping`` / ``> pong`` for the server's own pings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["PingPrinter", "show_pings"]


class PingPrinter(logging.Handler):
    """Prints the Ping and Pong frames of ``tether.protocol`` records with ``note``."""

    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self._note = note
        self._sent_at: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        kind = message[:6]
        generation = getattr(record, "generation", "?")
        if kind == "> PING":
            self._sent_at = record.created
            self._note(f"> ping (generation {generation})")
        elif kind == "< PONG":
            sent, self._sent_at = self._sent_at, None
            rtt = "" if sent is None else f", round trip {(record.created - sent) * 1000:.2f} ms"
            self._note(f"< pong (generation {generation}){rtt}")
        elif kind == "< PING":
            self._note(f"< ping from the server (generation {generation})")
        elif kind == "> PONG":
            self._note(f"> pong to the server (generation {generation})")


def show_pings(note: Callable[[str], None]) -> PingPrinter:
    """Turn ``tether.protocol`` on at DEBUG and print its pings and pongs with ``note``;
    returns the handler (to remove it after the run)."""
    handler = PingPrinter(note)
    logger = logging.getLogger("tether.protocol")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler
