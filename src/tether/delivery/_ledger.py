"""The outbound ledger: every message the delivery layer has accepted and not yet
finished with, in the order it was sent. Pure bookkeeping: no I/O, no trio, no clock.

An entry's life::

    QUEUED ──hand()──> HANDED ──written()──> WRITTEN ──acknowledge()──> (gone)
       │                  │                     (an id: resent after each reconnect)
       │                  └─ written() without an id ───────────────────> (gone)
       └─ withdraw(), evicted, close() ──────────────────────────────────> (gone)

QUEUED entries wait for their turn to be handed to the session (one task hands them
on, in order); HANDED is the one the session is writing (or holds in its own send
buffer during an outage); WRITTEN entries were written to a connection and wait for
their acknowledgement. The ledger is bounded like the session's send buffer: at most
``capacity`` entries and ``max_bytes`` bytes of them (a message's size is its
``len()``; an empty ledger admits a message of any size), with an
:class:`tether.Overflow` policy for a message that does not fit.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from ..config import Overflow
from ..exceptions import ConfigError, SendBufferFull

__all__ = ["Entry", "EntryState", "OutboundLedger"]


class EntryState(enum.Enum):
    """Where an :class:`Entry` is in its life (see the module docstring)."""

    QUEUED = "queued"
    HANDED = "handed"
    WRITTEN = "written"
    DONE = "done"


class Entry:
    """One outbound message. ``waiter`` is the shell's (the ledger never looks at it);
    ``writes`` counts the times it was written (more than 1: it was resent)."""

    __slots__ = ("message", "message_id", "serial", "size", "state", "waiter", "writes")

    def __init__(
        self, serial: int, message_id: Hashable | None, message: Any, size: int, waiter: object
    ) -> None:
        self.serial = serial
        self.message_id = message_id
        self.message = message
        self.size = size
        self.waiter = waiter
        self.state = EntryState.QUEUED
        self.writes = 0

    def __repr__(self) -> str:
        return f"<Entry #{self.serial} id={self.message_id!r} {self.state.value}>"


class OutboundLedger:
    """The entries not yet done with, in sending order (see the module docstring).

    ``capacity`` (messages) and ``max_bytes`` (bytes) bound the entries in every state
    together; ``overflow`` says what :meth:`admit` does with a message that does not
    fit: ``RAISE`` and ``BLOCK`` raise :class:`tether.SendBufferFull` (under ``BLOCK``
    the caller waits for :meth:`fits` first), ``DROP_OLDEST`` evicts the oldest entries
    that are not HANDED until it fits.
    """

    def __init__(self, capacity: int, max_bytes: int, overflow: Overflow) -> None:
        if capacity < 1 or max_bytes < 1:
            raise ConfigError(
                f"the ledger needs room for a message: capacity={capacity}, max_bytes={max_bytes}"
            )
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.overflow = overflow
        self._entries: dict[int, Entry] = {}
        self._by_id: dict[Hashable, Entry] = {}
        self._queued: deque[Entry] = deque()
        self._serial = 0
        self._handed = 0
        self._handed_bytes = 0
        #: Sum of the sizes of the entries held.
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    @property
    def unacknowledged(self) -> int:
        """Entries with an id that were written and wait for their acknowledgement."""
        return sum(e.state is EntryState.WRITTEN for e in self._entries.values())

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes may be admitted without eviction."""
        return not self._entries or (
            len(self._entries) < self.capacity and self.bytes + size <= self.max_bytes
        )

    def pending(self, message_id: Hashable) -> bool:
        """Whether an entry with this id is held."""
        return message_id in self._by_id

    def admit(
        self, message_id: Hashable | None, message: Any, size: int, waiter: object = None
    ) -> tuple[Entry, list[Entry]]:
        """Add a QUEUED entry at the end; return it and the entries evicted to make
        room (``DROP_OLDEST`` only; they are DONE, the caller tells their senders).

        Raises ``ConfigError`` if an entry with ``message_id`` is held already, and
        ``SendBufferFull`` when it does not fit under ``BLOCK`` or ``RAISE``, or under
        ``DROP_OLDEST`` when the HANDED entries alone leave no room (nothing is
        evicted then)."""
        if message_id is not None and message_id in self._by_id:
            raise ConfigError(f"message_id: {message_id!r} is already unacknowledged")
        evicted: list[Entry] = []
        if not self.fits(size):
            if self.overflow is not Overflow.DROP_OLDEST:
                raise SendBufferFull(self._full_message(size))
            evicted = self._evict_until_fits(size)
        self._serial += 1
        entry = Entry(self._serial, message_id, message, size, waiter)
        self._entries[entry.serial] = entry
        if message_id is not None:
            self._by_id[message_id] = entry
        self._queued.append(entry)
        self.bytes += size
        return entry, evicted

    def _full_message(self, size: int, detail: str = "") -> str:
        if len(self._entries) >= self.capacity:
            return f"delivery ledger full ({self.capacity} messages{detail})"
        return (
            f"delivery ledger full ({self.bytes} of {self.max_bytes} bytes held, "
            f"this message {size} bytes{detail})"
        )

    def _evict_until_fits(self, size: int) -> list[Entry]:
        handed = self._handed
        if handed and (handed >= self.capacity or self._handed_bytes + size > self.max_bytes):
            raise SendBufferFull(self._full_message(size, ", being written"))
        evicted: list[Entry] = []
        for entry in list(self._entries.values()):
            if self.fits(size):
                break
            if entry.state is not EntryState.HANDED:
                self._remove(entry)
                evicted.append(entry)
        return evicted

    def next_queued(self) -> Entry | None:
        """The oldest QUEUED entry (the next to hand on), or ``None``."""
        queued = self._queued
        while queued and queued[0].state is not EntryState.QUEUED:
            queued.popleft()
        return queued[0] if queued else None

    def hand(self, entry: Entry) -> None:
        """``entry`` (the one :meth:`next_queued` returned) goes to the session."""
        assert entry.state is EntryState.QUEUED
        assert self.next_queued() is entry
        self._queued.popleft()
        entry.state = EntryState.HANDED
        self._handed += 1
        self._handed_bytes += entry.size

    def written(self, entry: Entry) -> None:
        """``entry`` was written to a connection (handed, or resent): an entry with an
        id is WRITTEN until acknowledged, one without is done. Nothing happens to an
        entry that is done already (acknowledged before its write was known)."""
        if entry.state is EntryState.DONE:
            return
        entry.writes += 1
        if entry.state is EntryState.HANDED:
            self._handed -= 1
            self._handed_bytes -= entry.size
        entry.state = EntryState.WRITTEN
        if entry.message_id is None:
            self._remove(entry)

    def to_resend(self) -> list[Entry]:
        """The WRITTEN entries (unacknowledged), in sending order: what a new
        connection must be sent first."""
        return [e for e in self._entries.values() if e.state is EntryState.WRITTEN]

    def handed(self) -> list[Entry]:
        """The HANDED entries, in sending order."""
        return [e for e in self._entries.values() if e.state is EntryState.HANDED]

    def acknowledge(self, ids: Iterable[Hashable]) -> list[Entry]:
        """Remove the entries with these ids (in any state); return them. Ids not held
        (never sent, acknowledged already) are ignored."""
        done: list[Entry] = []
        for message_id in ids:
            entry = self._by_id.get(message_id)
            if entry is not None:
                self._remove(entry)
                done.append(entry)
        return done

    def withdraw(self, entry: Entry, *, written_too: bool = False) -> bool:
        """Remove ``entry`` if it is still QUEUED (its sender gave up before it was
        handed on), or in any state but HANDED with ``written_too`` (a request
        abandoned: it is not to be resent). Returns whether it was removed."""
        state = entry.state
        if state is EntryState.QUEUED or (written_too and state is EntryState.WRITTEN):
            self._remove(entry)
            return True
        return False

    def forget(self, entry: Entry) -> None:
        """Remove ``entry`` whatever its state (the session refused it)."""
        if entry.state is not EntryState.DONE:
            self._remove(entry)

    def close(self) -> list[Entry]:
        """Remove every entry; return them in sending order."""
        entries = list(self._entries.values())
        for entry in entries:
            self._remove(entry)
        self._queued.clear()
        return entries

    def _remove(self, entry: Entry) -> None:
        if entry.state is EntryState.HANDED:
            self._handed -= 1
            self._handed_bytes -= entry.size
        entry.state = EntryState.DONE
        del self._entries[entry.serial]
        if entry.message_id is not None:
            del self._by_id[entry.message_id]
        self.bytes -= entry.size
