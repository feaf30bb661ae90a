"""The Trio shell of the delivery layer: :class:`Delivery` holds a :class:`tether.Session`
and the pure bookkeeping (ledger, sequence, requests), and runs two tasks beside the
application:

* the **hand-on** task gives the ledger's QUEUED messages to ``Session.send()`` one at
  a time, in order, and marks each written when that returns;
* the **take-in** task reads ``Session.receive()``: it drops duplicates, reports gaps,
  applies acknowledgements, hands replies to their ``request()`` and heartbeat replies
  to the heartbeat, everything else to ``Delivery.receive()``, and sends the client
  acknowledgements the dialect asks for;
* the **heartbeat** task (only for a dialect with a heartbeat, ``_heartbeat.py``)
  sends the dialect's heartbeat on the open connection every interval.

At the start of every generation, inside the session's ``on_connect``, the
:meth:`Delivery._on_connect` hook sends the dialect's resume message, runs the
application's ``on_connect``, writes every subscription again (in the order they were
made), then every message written before and not yet acknowledged, in their original
order. Only then does the session flush its own send buffer, which holds at most the
one message the hand-on task was giving it: so the order on the wire is resume,
``on_connect``, the subscriptions, the unacknowledged, then anything newer.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

import attrs
import trio

from ..codec import Codec
from ..config import Overflow
from ..events import MessagesDropped, SequenceGap, UnacknowledgedDropped
from ..exceptions import (
    ConfigError,
    DecodeError,
    MessageDropped,
    ReconnectFailed,
    RequestTimeout,
    SendBufferFull,
    SessionClosed,
    TetherError,
)
from ..session import Connection, Session
from ._dialect import Dialect
from ._heartbeat import Heartbeat, check_seconds
from ._ledger import Entry, EntryState, OutboundLedger
from ._requests import RequestTable
from ._sequence import InboundSequence, Verdict
from ._subscriptions import Subscription, SubscriptionList

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "Delivery", "DeliveryStatistics", "Encoded", "PassThrough"]

#: Seconds ``Delivery.request()`` waits for its reply by default (30 s: the order of a
#: slow server's answer; a request must never wait for ever unasked, failure F2).
DEFAULT_REQUEST_TIMEOUT = 30.0

OnConnect = Callable[[Connection], Awaitable[None]]


class Encoded:
    """A message already encoded by the delivery layer: the session's codec
    (:class:`PassThrough`) passes it through as it is."""

    __slots__ = ("raw",)

    def __init__(self, raw: str | bytes) -> None:
        self.raw = raw


class PassThrough:
    """The codec the session runs with under a delivery layer: :class:`Encoded` as it is,
    anything else through the application's codec (its ``on_connect`` still speaks
    objects), and every inbound message through the application's codec."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec | None) -> None:
        self.codec = codec

    def encode(self, obj: Any) -> str | bytes:
        if type(obj) is Encoded:
            return obj.raw
        if self.codec is None:
            if isinstance(obj, (str, bytes)):
                return obj
            raise TypeError(f"a message must be str or bytes, got {type(obj).__name__}")
        return self.codec.encode(obj)

    def decode(self, raw: str | bytes) -> Any:
        return raw if self.codec is None else self.codec.decode(raw)


class _Pending:
    """What waits on one outbound message (and, for a request, on its reply)."""

    __slots__ = ("acknowledged", "error", "replied", "reply", "written")

    def __init__(self, request: bool = False) -> None:
        self.written = trio.Event()
        self.acknowledged = trio.Event()
        self.replied: trio.Event | None = trio.Event() if request else None
        self.reply: Any = None
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.written.set()
        self.acknowledged.set()
        if self.replied is not None:
            self.replied.set()


class _Raised:
    """An error for ``receive()`` in place of a message (a ``DecodeError``)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


@attrs.frozen(kw_only=True)
class DeliveryStatistics:
    """A snapshot of the delivery layer's counters (``Delivery.statistics()``).

    Attributes:
        queued: messages accepted and not yet handed to the session.
        unacknowledged: messages written and waiting for their acknowledgement.
        held_bytes: bytes of every message the ledger holds (``len()`` of each).
        acknowledged: messages acknowledged since the start.
        resent: writes of an unacknowledged message after a reconnect.
        duplicates_dropped: inbound messages dropped as duplicates (by sequence number).
        gaps: ``SequenceGap`` events; ``missing``: sequence numbers they skipped.
        last_sequence: the last inbound sequence number seen (what ``resume`` gets).
        requests_waiting: ``request()`` calls waiting for their reply.
        subscriptions: subscriptions registered (``subscribe()``).
        resubscribed: writes of a subscription at the start of a later generation.
        heartbeats_sent: heartbeats written (``Dialect.heartbeat``).
        heartbeat_replies: heartbeat replies received (late ones included).
        last_heartbeat_rtt: seconds from the latest answered heartbeat to its reply
            (``None`` before any): the application's round trip, server processing
            included. ``Session.statistics().last_rtt`` stays the WebSocket Ping's.
    """

    queued: int
    unacknowledged: int
    held_bytes: int
    acknowledged: int
    resent: int
    duplicates_dropped: int
    gaps: int
    missing: int
    last_sequence: int | None
    requests_waiting: int
    subscriptions: int
    resubscribed: int
    heartbeats_sent: int
    heartbeat_replies: int
    last_heartbeat_rtt: float | None


def _written_once(subscription: Subscription) -> bool:
    """Whether a subscription's first write happened (so a new generation writes it
    again); until then it waits in the ledger, or the session's buffer, in order."""
    first = subscription.first
    return isinstance(first, Entry) and first.writes > 0


def _check_timeout(timeout: float | None) -> float:
    if timeout is None:
        return math.inf
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigError(f"timeout: must be seconds or None, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ConfigError(f"timeout: must be > 0 seconds, got {timeout!r}")
    return float(timeout)


class Delivery:
    """Acknowledged, resumable, exactly-once-to-the-application messaging over a
    :class:`tether.Session`, as a :class:`Dialect` describes the server's protocol.
    Create it with :func:`tether.delivery.connect`.

    Outbound, a message with an id (``Dialect.message_id``) is held in the ledger until
    an inbound message acknowledges it (``Dialect.acknowledged``), and written again,
    in the original order and before anything newer, at the start of every later
    generation: at-least-once, so the server must drop what it has seen (by id).
    Inbound, messages with a sequence number (``Dialect.sequence``) reach
    :meth:`receive` once each, in order: duplicates (a replay after the resume) are
    dropped, a gap is a :class:`tether.events.SequenceGap` event, and the last number
    seen is what ``Dialect.resume`` is given on the next connection.

    The ledger is bounded like the session's send buffer: ``max_unacknowledged``
    messages and ``max_unacknowledged_bytes`` bytes (defaults: ``Config.send_buffer``,
    ``Config.send_buffer_bytes``), queued and unacknowledged together, with an
    :class:`tether.Overflow` policy (default: ``Config.overflow``).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        codec: Codec | None,
        capacity: int,
        max_bytes: int,
        overflow: Overflow,
        last_sequence: int | None,
        on_connect: OnConnect | None,
        heartbeat_interval: float | None = None,
        heartbeat_timeout: float | None = None,
    ) -> None:
        self._dialect = dialect
        self._codec = codec
        self._ledger = OutboundLedger(capacity, max_bytes, overflow)
        self._sequence = InboundSequence(last_sequence)
        self._requests = RequestTable()
        self._subscriptions = SubscriptionList()
        self._resubscribed = 0
        self._on_connect_app = on_connect
        self._session: Session | None = None
        #: Wakes the hand-on task (a message queued, or the end).
        self._queued = trio.lowlevel.ParkingLot()
        #: Wakes senders waiting for room (BLOCK) and for the ledger to be handed on.
        self._room = trio.lowlevel.ParkingLot()
        self._to_app, self._from_pump = trio.open_memory_channel[Any](0)
        self._ended: BaseException | None = None
        self._acknowledged = 0
        self._resent = 0
        self._heartbeat: Heartbeat | None = None
        if dialect.has_heartbeat:
            self._heartbeat = Heartbeat(
                dialect,
                interval=heartbeat_interval,
                timeout=heartbeat_timeout,
                encode=lambda message: Encoded(self._encode(message)),
                last_sequence=lambda: self._sequence.last,
            )

    # -- the public face ----------------------------------------------------------

    @property
    def session(self) -> Session:
        """The :class:`tether.Session` beneath: its ``state``, ``generation``,
        ``events()``, ``statistics()``, ``reconnect()``. Read from it only through this
        object (its ``receive()`` would take messages from the delivery layer)."""
        assert self._session is not None, "the session opens before connect() enters"
        return self._session

    @property
    def dialect(self) -> Dialect:
        """The :class:`Dialect` this layer speaks."""
        return self._dialect

    @property
    def last_sequence(self) -> int | None:
        """The last inbound sequence number seen (``None`` before any): what
        ``Dialect.resume`` is given on the next connection. Keep it to resume in a
        later process (``connect(last_sequence=...)``)."""
        return self._sequence.last

    def restart_sequence(self, last_sequence: int | None = None) -> None:
        """The server has started numbering afresh (a new session: Discord's INVALID
        SESSION, after which the client identifies again): forget the last sequence
        number seen and take ``last_sequence`` instead (default ``None``: the next
        number that comes is new, whatever it is, and the next resume message is
        given ``None``). Without this, the new session's first numbers would be
        dropped as duplicates. Raises :class:`tether.ConfigError` for a
        ``last_sequence`` that is not an ``int`` or ``None``."""
        if last_sequence is not None and (
            isinstance(last_sequence, bool) or not isinstance(last_sequence, int)
        ):
            raise ConfigError(f"last_sequence: must be an int or None, got {last_sequence!r}")
        self._sequence.restart(last_sequence)

    async def send(self, message: Any, *, wait_ack: bool = False) -> None:
        """Send ``message``; return once it was written to a live connection, or with
        ``wait_ack=True`` once the server acknowledged it.

        A message with an id (``Dialect.message_id``) stays in the ledger until it is
        acknowledged: a new connection writes it again (after the resume message and
        ``on_connect``, in the original order, before anything newer), as often as it
        takes. One without an id is written once, in order with the others (as
        ``Session.send`` does: at-least-once only for a write cut off by a lost
        connection).

        When the ledger is full (by count, or this message would take it past its
        bytes; an empty ledger takes a message of any size), ``Overflow.BLOCK`` waits
        for room (acknowledgements make it), ``RAISE`` raises
        :class:`tether.SendBufferFull`, ``DROP_OLDEST`` evicts the oldest messages not
        being written (their ``send()`` raises :class:`tether.MessageDropped`; a
        ``MessagesDropped`` event counts those never written, an
        ``UnacknowledgedDropped`` those written).

        Raises :class:`tether.ConfigError` if the message's id is already
        unacknowledged, or for ``wait_ack=True`` on a message without an id;
        ``TypeError`` (or what the codec raises) for a message that cannot be encoded;
        :class:`tether.SessionClosed` (or ``ReconnectFailed``) if the session ends
        first: a message with an id may have reached the server even so.

        Cancellation: a message still queued is withdrawn and never sent; one already
        handed to the session will be written, and if it has an id it stays in the
        ledger until acknowledged (waiting for the acknowledgement is what is
        cancelled).
        """
        raw = self._encode(message)
        message_id = self._dialect.message_id(message)
        if wait_ack and message_id is None:
            raise ConfigError("wait_ack: the dialect finds no id in this message (message_id)")
        entry = await self._admit(message_id, raw, _Pending())
        pending = entry.waiter
        assert isinstance(pending, _Pending)
        try:
            await (pending.acknowledged if wait_ack else pending.written).wait()
        except BaseException:
            if self._ledger.withdraw(entry):
                self._room.unpark_all()
            raise
        if pending.error is not None:
            raise pending.error

    # Issue 13's contract names it request(message, timeout=...), as trio's own
    # fail_after would have it passed; the deadline is the call's, not the caller's.
    async def request(
        self,
        message: Any,
        *,
        timeout: float | None = DEFAULT_REQUEST_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """Send the request ``message`` and return the inbound message that answers it
        (``Dialect.reply_to`` names its id), which does not go to :meth:`receive`.

        The request is an outbound message with an id (``Dialect.message_id``; there
        must be one): held until acknowledged (a reply acknowledges its request too)
        and sent again on a new connection until then, so it waits across reconnects.
        Any number may wait at once, each with its own id.

        ``timeout``: seconds from this call (default :data:`DEFAULT_REQUEST_TIMEOUT`,
        30 s; ``None``: no limit), waiting for room in the ledger and for the write
        included. Raises :class:`tether.RequestTimeout` (a ``TimeoutError``) when it
        passes: the request is no longer resent, and a reply that comes later goes to
        :meth:`receive`. Raises :class:`tether.ConfigError` for a message without an id,
        an id already waiting, or a bad ``timeout``; :class:`tether.SessionClosed` (or
        ``ReconnectFailed``) if the session ends first; as :meth:`send` for a message
        that cannot be encoded or a full ledger.

        Cancellation: the request is withdrawn (not resent); one already written may
        still be answered, and that reply goes to :meth:`receive`.
        """
        seconds = _check_timeout(timeout)
        deadline = trio.current_time() + seconds
        raw = self._encode(message)
        request_id = self._dialect.message_id(message)
        if request_id is None:
            raise ConfigError("request: the dialect finds no id in this message (message_id)")
        pending = _Pending(request=True)
        self._requests.add(request_id, pending)
        entry: Entry | None = None
        try:
            with trio.move_on_at(deadline):
                entry = await self._admit(request_id, raw, pending)
                assert pending.replied is not None
                await pending.replied.wait()
            if pending.error is not None:
                raise pending.error
            if pending.replied is not None and pending.replied.is_set():
                return pending.reply
            raise RequestTimeout(request_id, seconds)
        finally:
            self._requests.discard(request_id, pending)
            if entry is not None and self._ledger.withdraw(entry, written_too=True):
                self._room.unpark_all()

    @property
    def subscriptions(self) -> tuple[Any, ...]:
        """The subscribed messages, in the order they were made (and are re-sent)."""
        return tuple(subscription.message for subscription in self._subscriptions)

    async def subscribe(
        self,
        message: Any,
        *,
        timeout: float | None = DEFAULT_REQUEST_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """Subscribe: send ``message`` now, in order with other sends, and again at the
        start of every later generation: after the resume message and ``on_connect``,
        before the unacknowledged messages and anything newer, in the order the
        subscriptions were made. Stop with :meth:`unsubscribe`.

        A message with an id (``Dialect.message_id``) is a request: returns the reply
        the dialect matches to it (``Dialect.reply_to``), which does not go to
        :meth:`receive`; it waits across reconnects (re-sent with the subscriptions
        until the reply comes), at most ``timeout`` seconds from this call (default
        :data:`DEFAULT_REQUEST_TIMEOUT`, 30 s; ``None``: no limit), else
        :class:`tether.RequestTimeout` and the subscription is dropped. Replies to its
        later re-sends are taken by the layer too (never handed to :meth:`receive`;
        counted in ``statistics().resubscribed``). A message without an id returns
        ``None`` once written, as :meth:`send` (``timeout`` does not apply). The
        subscription's own writes are not held for acknowledgement: each generation
        writes it once.

        Raises :class:`tether.ConfigError` if this message (encoded alike), or another
        with its id, is subscribed already, or for a bad ``timeout``;
        :class:`tether.SessionClosed` (or ``ReconnectFailed``) if the session ends
        first; as :meth:`send` for a message that cannot be encoded or a full ledger.
        Whatever it raises, the message is not subscribed.

        Cancellation: the subscription is dropped (a message not yet written is
        withdrawn; one written may have reached the server: unsubscribe there if it
        matters).
        """
        seconds = _check_timeout(timeout)
        deadline = trio.current_time() + seconds
        raw = self._encode(message)
        subscription_id = self._dialect.message_id(message)
        subscription = self._subscriptions.add(message, raw, subscription_id)
        pending = _Pending(request=subscription_id is not None)
        subscribed = False
        entry: Entry | None = None
        try:
            if subscription_id is None:
                entry = await self._admit(None, raw, pending)
                subscription.first = entry
                await pending.written.wait()
                if pending.error is not None:
                    raise pending.error
                subscribed = True
                return None
            self._requests.add(subscription_id, pending)
            try:
                with trio.move_on_at(deadline):
                    entry = await self._admit(None, raw, pending)
                    subscription.first = entry
                    assert pending.replied is not None
                    await pending.replied.wait()
                if pending.error is not None:
                    raise pending.error
                if pending.replied is not None and pending.replied.is_set():
                    subscription.reply = pending.reply
                    subscribed = True
                    return pending.reply
                raise RequestTimeout(subscription_id, seconds)
            finally:
                self._requests.discard(subscription_id, pending)
        finally:
            if not subscribed:
                self._subscriptions.discard(subscription)
                if entry is not None and self._ledger.withdraw(entry):
                    self._room.unpark_all()

    async def unsubscribe(
        self,
        message: Any,
        *,
        timeout: float | None = DEFAULT_REQUEST_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        """Unsubscribe ``message`` (equal, once encoded, to one given to
        :meth:`subscribe`): it is not sent again on later generations. Then, if the
        dialect has one (``Dialect.unsubscribe``), send the message that cancels it on
        the server, in order after everything sent before: one with an id as
        :meth:`request` (returns its reply; ``timeout`` as there), one without as
        :meth:`send` (returns ``None`` once written). Returns ``None`` when the dialect
        has no such message.

        Raises :class:`tether.ConfigError` if ``message`` is not subscribed (nothing
        changes), else as :meth:`request` or :meth:`send` for the cancelling message
        (the subscription is gone either way). Cancellation: the subscription is gone;
        the cancelling message as for :meth:`request` / :meth:`send`.
        """
        _check_timeout(timeout)
        self._subscriptions.remove(self._encode(message))
        cancel = self._dialect.unsubscribe(message)
        if cancel is None:
            await trio.lowlevel.checkpoint()
            return None
        if self._dialect.message_id(cancel) is not None:
            return await self.request(cancel, timeout=timeout)
        await self.send(cancel)
        return None

    async def receive(self) -> Any:
        """The next inbound message for the application, whichever generation carried
        it; waits across reconnects. Messages with a sequence number come once each
        and in order; control messages (``Dialect.control``) and matched replies never
        come here.

        Raises :class:`tether.SessionClosed` (or ``ReconnectFailed``) once the session
        has ended and every message taken in was returned, :class:`tether.DecodeError`
        for a message the codec refused (it is consumed), or what a dialect function
        raised for a message. Cancellation: no message is lost.
        """
        try:
            item = await self._from_pump.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._ended or SessionClosed("the session is closed") from None
        if type(item) is _Raised:
            raise item.error
        return item

    def __aiter__(self) -> Delivery:
        return self

    async def __anext__(self) -> Any:
        """Iteration ends when the session is closed; ``ReconnectFailed`` propagates."""
        try:
            return await self.receive()
        except ReconnectFailed:
            raise
        except SessionClosed:
            raise StopAsyncIteration from None

    def statistics(self) -> DeliveryStatistics:
        """A snapshot of the counters (:class:`DeliveryStatistics`)."""
        ledger = self._ledger
        sequence = self._sequence
        heartbeat = self._heartbeat
        unacknowledged = ledger.unacknowledged
        return DeliveryStatistics(
            queued=sum(e.state is EntryState.QUEUED for e in ledger),
            unacknowledged=unacknowledged,
            held_bytes=ledger.bytes,
            acknowledged=self._acknowledged,
            resent=self._resent,
            duplicates_dropped=sequence.duplicates,
            gaps=sequence.gaps,
            missing=sequence.missing,
            last_sequence=sequence.last,
            requests_waiting=len(self._requests),
            subscriptions=len(self._subscriptions),
            resubscribed=self._resubscribed,
            heartbeats_sent=0 if heartbeat is None else heartbeat.sent,
            heartbeat_replies=0 if heartbeat is None else heartbeat.replies,
            last_heartbeat_rtt=None if heartbeat is None else heartbeat.last_rtt,
        )

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds between heartbeats (``None``: none are sent); see
        :meth:`set_heartbeat`."""
        return None if self._heartbeat is None else self._heartbeat.interval

    @property
    def heartbeat_timeout(self) -> float | None:
        """Seconds a heartbeat's reply may take (``None``: no limit)."""
        return None if self._heartbeat is None else self._heartbeat.timeout

    def set_heartbeat(self, interval: float | None, timeout: float | None) -> None:
        """Send the dialect's heartbeat every ``interval`` seconds and expect its reply
        within ``timeout`` seconds, from now on: for a server that names its interval
        at run time (Discord's HELLO). The heartbeat due is rescheduled to ``interval``
        after the last reply (or after the connection opened, if none came yet), at
        once if that has passed. ``interval=None`` stops heartbeats; ``timeout=None``
        sends them without holding a missing reply against the server.

        A heartbeat goes out on the open connection only (never buffered for a later
        one); the first on each connection ``interval`` after it opened, each next one
        ``interval`` after the reply. A reply that does not come within ``timeout`` of
        its heartbeat ends that connection with ``LostReason.PING_TIMEOUT``, unless a
        message arrived since or the session's reader waits for the application (a slow
        reader is not a dead server): as a missing WebSocket pong, see
        ``Session.heartbeat_missed``. Replies never reach :meth:`receive`.

        Raises :class:`tether.ConfigError` for a value that is not ``None`` or seconds
        > 0, or for a dialect without a heartbeat (``Dialect.heartbeat``)."""
        interval = check_seconds("interval", interval)
        timeout = check_seconds("timeout", timeout)
        if self._heartbeat is None:
            raise ConfigError("set_heartbeat: the dialect has no heartbeat (Dialect.heartbeat)")
        self._heartbeat.set(interval, timeout)

    async def _beat(self) -> None:
        """The heartbeat task (started by ``connect()`` for a dialect with one)."""
        assert self._heartbeat is not None
        await self._heartbeat.run(self.session)

    # -- outbound -----------------------------------------------------------------

    def _encode(self, message: Any) -> str | bytes:
        """The message as it goes on the wire, checked in the caller's task."""
        raw = message if self._codec is None else self._codec.encode(message)
        if isinstance(raw, str):
            if not raw.isascii():
                raw.encode("utf-8")  # a lone surrogate fails here, in its sender
            return raw
        if not isinstance(raw, bytes):
            raise TypeError(f"a message must be str or bytes, got {type(raw).__name__}")
        return raw

    async def _admit(
        self, message_id: Hashable | None, raw: str | bytes, pending: _Pending
    ) -> Entry:
        """Put the message in the ledger (waiting for room under ``BLOCK``) and wake the
        hand-on task."""
        ledger = self._ledger
        size = len(raw)
        if ledger.overflow is Overflow.BLOCK:
            while self._ended is None and not ledger.fits(size):
                await self._room.park()
        else:
            await trio.lowlevel.checkpoint()
        if self._ended is not None:
            raise self._ended
        entry, evicted = ledger.admit(message_id, raw, size, pending)
        if evicted:
            self._evicted(evicted)
        self._queued.unpark_all()
        return entry

    def _evicted(self, entries: list[Entry]) -> None:
        unsent = 0
        for entry in entries:
            if entry.writes == 0:
                unsent += 1
            pending = entry.waiter
            assert isinstance(pending, _Pending)
            pending.fail(MessageDropped("evicted from the delivery ledger by Overflow.DROP_OLDEST"))
        session = self.session
        if unsent:
            session.emit_event(MessagesDropped, count=unsent)
        if len(entries) > unsent:
            session.emit_event(UnacknowledgedDropped, count=len(entries) - unsent)

    async def _hand_on(self) -> None:
        """The hand-on task: give QUEUED messages to the session in order, one at a
        time (so that the session's send buffer holds at most this one of ours, and
        everything written before it is known to be written). Returns when the
        session has ended."""
        ledger = self._ledger
        session = self.session
        while self._ended is None:
            entry = ledger.next_queued()
            if entry is None:
                await self._queued.park()
                continue
            ledger.hand(entry)
            pending = entry.waiter
            assert isinstance(pending, _Pending)
            try:
                await session.send(Encoded(entry.message))
            except SessionClosed as exc:
                ledger.forget(entry)
                pending.fail(exc)
                self._end(exc)
                return
            except TetherError as exc:  # MessageDropped, SendBufferFull: the session's own
                ledger.forget(entry)
                pending.fail(exc)
                self._room.unpark_all()
                continue
            # No checkpoint between the write and this: a later generation's on_connect
            # finds this entry WRITTEN (so resends it) or, if the write did not happen,
            # in the session's send buffer (so leaves it to the session's flush).
            ledger.written(entry)
            pending.written.set()
            if entry.state is EntryState.DONE:
                self._room.unpark_all()

    async def wait_acknowledged(self) -> None:
        """Wait until every message with an id sent so far has been acknowledged (and
        everything without one written); returns at once when the ledger is empty.
        Raises :class:`tether.SessionClosed` (or ``ReconnectFailed``) if the session ends
        first. No timeout of its own: wrap it in ``trio.move_on_after``. Cancellation
        changes nothing."""
        await trio.lowlevel.checkpoint()
        while len(self._ledger):
            if self._ended is not None:
                raise self._ended
            await self._room.park()

    async def _wait_handed_on(self) -> None:
        """Wait until nothing is QUEUED or HANDED (the session has all of it)."""
        ledger = self._ledger
        while self._ended is None and any(
            e.state in (EntryState.QUEUED, EntryState.HANDED) for e in ledger
        ):
            await self._room.park()

    async def _on_connect(self, conn: Connection) -> None:
        """The session's ``on_connect``: the resume message, the application's
        ``on_connect``, then the unacknowledged messages again, in order."""
        resume = self._dialect.resume(self._sequence.last)
        if resume is not None:
            await conn.send(Encoded(self._encode(resume)))
        if self._on_connect_app is not None:
            await self._on_connect_app(conn)
        for subscription in self._subscriptions:
            if not _written_once(subscription):
                continue  # its first write is still to come, in order with the sends
            await conn.send(Encoded(subscription.raw))
            subscription.sends += 1
            self._resubscribed += 1
        for entry in self._ledger.to_resend():
            if entry.state is not EntryState.WRITTEN:
                continue  # acknowledged while an earlier one was written
            await conn.send(Encoded(entry.message))
            self._ledger.written(entry)
            self._resent += 1
        if self._heartbeat is not None:
            self._heartbeat.connected(conn)

    def _acknowledge(self, ids: Iterable[Hashable]) -> None:
        done = self._ledger.acknowledge(ids)
        if done:
            self._acknowledged += len(done)
            for entry in done:
                pending = entry.waiter
                assert isinstance(pending, _Pending)
                pending.written.set()
                pending.acknowledged.set()
            self._room.unpark_all()

    # -- inbound ------------------------------------------------------------------

    async def _take_in(self) -> None:
        """The take-in task: every inbound message through the dialect. Returns when
        the session has ended (after the application took what came before)."""
        session = self.session
        to_app = self._to_app
        try:
            while True:
                try:
                    message = await session.receive()
                except SessionClosed as exc:
                    self._end(exc)
                    return
                except DecodeError as exc:
                    await to_app.send(_Raised(exc))
                    continue
                try:
                    await self._take(message)
                except (trio.Cancelled, trio.BrokenResourceError, trio.ClosedResourceError):
                    raise
                except Exception as exc:  # a dialect function raised: the app sees it
                    await to_app.send(_Raised(exc))
        finally:
            to_app.close()

    async def _take(self, message: Any) -> None:
        dialect = self._dialect
        client_ack = dialect.client_ack(message)
        number = dialect.sequence(message)
        if number is not None:
            observation = self._sequence.observe(number)
            if observation.verdict is Verdict.DUPLICATE:
                await self._send_client_ack(client_ack)
                return
            if observation.verdict is Verdict.GAP:
                self.session.emit_event(
                    SequenceGap,
                    expected=observation.expected,
                    received=number,
                    missing=observation.missing,
                )
        self._acknowledge(dialect.acknowledged(message))
        if self._heartbeat is not None and dialect.heartbeat_reply(message):
            self._heartbeat.replied()
            await self._send_client_ack(client_ack)
            return
        if dialect.control(message):
            await self._send_client_ack(client_ack)
            return
        request_id = dialect.reply_to(message)
        if request_id is not None:
            self._acknowledge((request_id,))  # a reply acknowledges its request
            pending = self._requests.match(request_id)
            if isinstance(pending, _Pending) and pending.replied is not None:
                pending.reply = message
                pending.replied.set()
                await self._send_client_ack(client_ack)
                return
            subscription = self._subscriptions.by_id(request_id)
            if subscription is not None:  # the reply to a re-sent subscription
                subscription.reply = message
                await self._send_client_ack(client_ack)
                return
        await self._to_app.send(message)
        await self._send_client_ack(client_ack)

    async def _send_client_ack(self, ack: Any) -> None:
        if ack is None:
            return
        session = self.session
        encoded = Encoded(self._encode(ack))
        try:
            try:
                session.send_nowait(encoded)
            except SendBufferFull:
                await session.send(encoded)
        except SessionClosed:
            pass  # the session is ending: take_in() learns it from receive()

    # -- the end ------------------------------------------------------------------

    def _end(self, error: BaseException) -> None:
        """The session has ended with ``error``: every waiter gets it."""
        if self._ended is not None:
            return
        self._ended = error
        if self._heartbeat is not None:
            self._heartbeat.end()
        for entry in self._ledger.close():
            pending = entry.waiter
            assert isinstance(pending, _Pending)
            pending.fail(error)
        for waiter in self._requests.close():
            assert isinstance(waiter, _Pending)
            waiter.fail(error)
        self._queued.unpark_all()
        self._room.unpark_all()

    def _attach(self, session: Session) -> None:
        """The session is open (``connect()``)."""
        self._session = session

    def _detach(self, error: BaseException) -> None:
        """``connect()`` is leaving: end what still waits, close the receive side."""
        self._end(error)
        self._to_app.close()
