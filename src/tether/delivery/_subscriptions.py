"""Subscriptions: messages written again at the start of every generation, in the order
they were made. Pure bookkeeping: no I/O, no trio; the first write's ledger entry is
the shell's (opaque here)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from ..exceptions import ConfigError

__all__ = ["Subscription", "SubscriptionList"]


class Subscription:
    """One registered subscription. ``first`` is the ledger entry of its first write
    (set by the shell; ``None`` until the message is in the ledger); ``reply`` is the
    latest reply to it, ``sends`` how many times it was written again."""

    __slots__ = ("first", "message", "message_id", "raw", "reply", "sends")

    def __init__(self, message: Any, raw: str | bytes, message_id: Hashable | None) -> None:
        self.message = message
        self.raw = raw
        self.message_id = message_id
        self.first: object | None = None
        self.reply: Any = None
        self.sends = 0


class SubscriptionList:
    """The subscriptions in the order they were made, found by their encoded message
    (what ``unsubscribe`` names) and by id (what a reply names)."""

    __slots__ = ("_by_id", "_by_raw")

    def __init__(self) -> None:
        self._by_raw: dict[str | bytes, Subscription] = {}
        self._by_id: dict[Hashable, Subscription] = {}

    def __len__(self) -> int:
        return len(self._by_raw)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._by_raw.values()))

    def add(self, message: Any, raw: str | bytes, message_id: Hashable | None) -> Subscription:
        """Register a subscription, last in order. Raises ``ConfigError`` if the same
        message (encoded alike), or another with its id, is subscribed already."""
        if raw in self._by_raw:
            raise ConfigError("subscribe: this message is subscribed already")
        if message_id is not None and message_id in self._by_id:
            raise ConfigError(f"subscribe: id {message_id!r} is subscribed already")
        subscription = Subscription(message, raw, message_id)
        self._by_raw[raw] = subscription
        if message_id is not None:
            self._by_id[message_id] = subscription
        return subscription

    def remove(self, raw: str | bytes) -> Subscription:
        """Unregister the subscription whose message is encoded as ``raw``. Raises
        ``ConfigError`` if there is none."""
        subscription = self._by_raw.pop(raw, None)
        if subscription is None:
            raise ConfigError("unsubscribe: this message is not subscribed")
        if subscription.message_id is not None:
            del self._by_id[subscription.message_id]
        return subscription

    def discard(self, subscription: Subscription) -> None:
        """Unregister ``subscription`` if it still is (its first write failed)."""
        if self._by_raw.get(subscription.raw) is subscription:
            self.remove(subscription.raw)

    def by_id(self, message_id: Hashable) -> Subscription | None:
        """The subscription with this id, or ``None``."""
        return self._by_id.get(message_id)
