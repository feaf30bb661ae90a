"""The dialect: what the delivery layer needs to know of one server's protocol, as a
handful of pure functions over application messages (what the codec made of them).

No I/O and no trio: every function is called with one message and answers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

import attrs

from ..exceptions import ConfigError

__all__ = ["Dialect", "MessageId", "no_heartbeat"]

#: A message's id: anything hashable the dialect finds in it (an ``int``, a ``str``).
MessageId = Hashable


def _nothing(message: Any) -> None:
    return None


def _no_ids(message: Any) -> Iterable[MessageId]:
    return ()


def _never(message: Any) -> bool:
    return False


def _fresh(last_sequence: int | None) -> None:
    return None


def no_heartbeat(number: int, last_sequence: int | None) -> None:
    """The default ``Dialect.heartbeat``: the protocol has none."""
    return None


def _callable(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not callable(value):
        raise ConfigError(f"{attribute.name}: must be callable, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class Dialect:
    """How a server's protocol names ids, acknowledgements, sequence numbers, replies
    and resumption; :class:`tether.delivery.Delivery` does the bookkeeping on it.

    Every field is a plain function of one message (a decoded application value: a
    ``dict`` with :class:`tether.JsonCodec`, a ``str`` without a codec), called in the
    delivery layer's tasks; it must not block, and should not raise (an exception it
    raises ends the ``send()``/``request()`` that called it, or, for an inbound message,
    goes to ``receive()`` in place of that message; one from ``heartbeat`` ends the
    ``tether.delivery.connect()`` block with it). Every field has a default that
    opts out, so a dialect names only what its server does::

        Dialect(
            message_id=lambda m: m.get("id"),             # outbound: which carry an id
            acknowledged=lambda m: m.get("ack", ()),      # inbound: which ids it acks
            control=lambda m: "ack" in m,                 # inbound: not for receive()
            sequence=lambda m: m.get("seq"),              # inbound: its sequence number
            resume=lambda last: {"resume": last},         # sent first on every connect
            reply_to=lambda m: m.get("reply_to"),         # inbound: the request it answers
            heartbeat=lambda n, last: {"ping": n},        # outbound: the n-th heartbeat
            heartbeat_reply=lambda m: "pong" in m,        # inbound: its reply
        )

    Attributes:
        message_id: ``message_id(outbound) -> id | None``: the id of an outbound message
            the server will acknowledge (any hashable value), or ``None`` for one sent
            at most once. A message with an id stays unacknowledged (and is sent again
            after every reconnect) until an inbound message acknowledges it. Default:
            ``None`` for every message.
        acknowledged: ``acknowledged(inbound) -> iterable of ids``: the outbound ids
            this inbound message acknowledges (an empty iterable for none; ids never
            sent, or already acknowledged, are ignored). Default: none.
        control: ``control(inbound) -> bool``: ``True`` for a message that is the
            protocol's own (an acknowledgement frame, a resume confirmation): the layer
            uses it and does not hand it to ``receive()``. Default: ``False``.
        sequence: ``sequence(inbound) -> int | None``: the sequence number the server
            gave this message (increasing by 1 per message it numbers), or ``None`` for
            an unnumbered one. A number at or below the last one seen is a duplicate
            (a replay after a resume) and is dropped; one above the next expected is a
            gap (reported with a :class:`tether.events.SequenceGap` event, and
            delivered). Default: ``None`` (no numbering, nothing dropped).
        resume: ``resume(last_sequence) -> message | None``: the message to send first
            on every connection (each generation, the first included), given the last
            sequence number seen (``None`` before any); ``None`` sends nothing.
            Default: nothing.
        reply_to: ``reply_to(inbound) -> id | None``: the id of the request this
            inbound message answers, or ``None``. A reply that matches a
            ``request()`` waiting for it goes to that caller, not to ``receive()``,
            and acknowledges the request. Default: ``None``.
        client_ack: ``client_ack(inbound) -> message | None``: the acknowledgement the
            server wants from the client for this message (Slack Socket Mode's
            ``{"envelope_id": ...}``), sent once the application has taken the message
            from ``receive()`` (or at once, for a duplicate or a control message or a
            reply), or ``None``. Default: none.
        heartbeat: ``heartbeat(number, last_sequence) -> message | None``: the
            application-level ping the server wants (Kraken's ``{"method": "ping"}``,
            Discord's ``{"op": 1, "d": last_sequence}``), given its number on this
            connection (1, 2, ...) and the last inbound sequence number seen (``None``
            before any); ``None`` skips this beat. Sent every ``heartbeat_interval``
            seconds (an option of :func:`tether.delivery.connect`, off by default) on
            the open connection only, never buffered for a later one. Default: none
            (the protocol has no heartbeat; asking for an interval is then a
            ``ConfigError``).
        heartbeat_reply: ``heartbeat_reply(inbound) -> bool``: ``True`` for the
            server's answer to a heartbeat. It answers the heartbeat waiting for one
            (any reply does: a reply need not carry the heartbeat's number) and never
            reaches ``receive()``. Default: ``False``.
        unsubscribe: ``unsubscribe(subscription) -> message | None``: the message that
            cancels a subscription (``Delivery.subscribe``) on the server (Binance's
            ``{"method": "UNSUBSCRIBE", ...}``), sent by ``Delivery.unsubscribe``, or
            ``None`` for none. Default: none (unsubscribing only stops the re-sends).
    """

    message_id: Callable[[Any], MessageId | None] = attrs.field(
        default=_nothing, validator=_callable
    )
    acknowledged: Callable[[Any], Iterable[MessageId]] = attrs.field(
        default=_no_ids, validator=_callable
    )
    control: Callable[[Any], bool] = attrs.field(default=_never, validator=_callable)
    sequence: Callable[[Any], int | None] = attrs.field(default=_nothing, validator=_callable)
    resume: Callable[[int | None], Any] = attrs.field(default=_fresh, validator=_callable)
    reply_to: Callable[[Any], MessageId | None] = attrs.field(default=_nothing, validator=_callable)
    client_ack: Callable[[Any], Any] = attrs.field(default=_nothing, validator=_callable)
    heartbeat: Callable[[int, int | None], Any] = attrs.field(
        default=no_heartbeat, validator=_callable
    )
    heartbeat_reply: Callable[[Any], bool] = attrs.field(default=_never, validator=_callable)
    unsubscribe: Callable[[Any], Any] = attrs.field(default=_nothing, validator=_callable)

    @property
    def has_heartbeat(self) -> bool:
        """Whether this dialect names a heartbeat (``heartbeat`` is not the default)."""
        return self.heartbeat is not no_heartbeat
