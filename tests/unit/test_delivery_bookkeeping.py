"""The delivery layer's pure bookkeeping, without trio: the outbound ledger (bounds,
overflow policies, order, acknowledgement), inbound sequence numbers (duplicates,
gaps), the request table, and the dialect's defaults."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether import ConfigError, Overflow, SendBufferFull
from tether.delivery import Dialect
from tether.delivery._ledger import EntryState, OutboundLedger
from tether.delivery._requests import RequestTable
from tether.delivery._sequence import InboundSequence, Verdict
from tether.delivery._subscriptions import SubscriptionList

# ------------------------------------------------------------------ the ledger


def test_an_entry_with_an_id_stays_until_acknowledged_one_without_until_written() -> None:
    ledger = OutboundLedger(10, 1000, Overflow.RAISE)
    a, _ = ledger.admit("a", "A", 1)
    b, _ = ledger.admit(None, "B", 1)
    assert [ledger.next_queued()] == [a]
    ledger.hand(a)
    assert ledger.next_queued() is b
    ledger.written(a)
    ledger.hand(b)
    ledger.written(b)
    assert list(ledger) == [a] and a.state is EntryState.WRITTEN
    assert b.state is EntryState.DONE
    assert ledger.to_resend() == [a]
    assert ledger.acknowledge(["zzz", "a", "a"]) == [a]
    assert len(ledger) == 0 and ledger.bytes == 0


def test_an_ack_before_the_write_is_known_wins() -> None:
    ledger = OutboundLedger(10, 1000, Overflow.RAISE)
    a, _ = ledger.admit("a", "A", 3)
    ledger.hand(a)
    assert ledger.acknowledge(["a"]) == [a]
    ledger.written(a)  # the sender learns of the write after the ack came
    assert len(ledger) == 0 and ledger.bytes == 0 and a.writes == 0


def test_a_second_message_with_an_unacknowledged_id_is_refused() -> None:
    ledger = OutboundLedger(10, 1000, Overflow.RAISE)
    ledger.admit(7, "x", 1)
    with pytest.raises(ConfigError, match="message_id: 7 is already unacknowledged"):
        ledger.admit(7, "y", 1)
    assert len(ledger) == 1


def test_raise_and_block_refuse_what_does_not_fit_by_count_or_bytes() -> None:
    for overflow in (Overflow.RAISE, Overflow.BLOCK):
        ledger = OutboundLedger(2, 10, overflow)
        ledger.admit(1, "x", 4)
        assert ledger.fits(6) and not ledger.fits(7)
        with pytest.raises(SendBufferFull, match=r"4 of 10 bytes held, this message 7 bytes"):
            ledger.admit(2, "y", 7)
        ledger.admit(2, "y", 6)
        with pytest.raises(SendBufferFull, match=r"\(2 messages\)"):
            ledger.admit(3, "z", 0)
        assert len(ledger) == 2 and ledger.bytes == 10


def test_an_empty_ledger_admits_a_message_of_any_size() -> None:
    ledger = OutboundLedger(1, 10, Overflow.RAISE)
    ledger.admit(1, "big", 10_000)
    assert ledger.bytes == 10_000 and not ledger.fits(0)


def test_drop_oldest_evicts_the_oldest_entries_not_being_written() -> None:
    ledger = OutboundLedger(3, 100, Overflow.DROP_OLDEST)
    a, _ = ledger.admit("a", "A", 1)
    b, _ = ledger.admit("b", "B", 1)
    c, _ = ledger.admit("c", "C", 1)
    ledger.hand(a)
    d, evicted = ledger.admit("d", "D", 1)
    assert evicted == [b]  # a is being written: it stays
    assert list(ledger) == [a, c, d]
    assert not ledger.pending("b") and ledger.next_queued() is c


def test_drop_oldest_refuses_when_the_entries_being_written_leave_no_room() -> None:
    ledger = OutboundLedger(1, 100, Overflow.DROP_OLDEST)
    a, _ = ledger.admit("a", "A", 1)
    ledger.hand(a)
    with pytest.raises(SendBufferFull, match="being written"):
        ledger.admit("b", "B", 1)
    assert list(ledger) == [a]


def test_withdraw_takes_back_a_queued_entry_only_unless_written_too() -> None:
    ledger = OutboundLedger(10, 100, Overflow.RAISE)
    a, _ = ledger.admit("a", "A", 1)
    b, _ = ledger.admit("b", "B", 1)
    c, _ = ledger.admit("c", "C", 1)
    ledger.hand(a)
    ledger.written(a)
    ledger.hand(b)
    assert not ledger.withdraw(a) and not ledger.withdraw(b)
    assert ledger.withdraw(c) and ledger.next_queued() is None
    assert not ledger.withdraw(b, written_too=True)  # the session has it
    assert ledger.withdraw(a, written_too=True)
    assert list(ledger) == [b]


# A model-based check: random operations against a list that does the same thing.

_op = st.one_of(
    st.tuples(st.just("admit"), st.integers(0, 9), st.integers(0, 7)),
    st.tuples(st.just("hand"), st.just(0), st.just(0)),
    st.tuples(st.just("written"), st.just(0), st.just(0)),
    st.tuples(st.just("ack"), st.integers(0, 9), st.just(0)),
    st.tuples(st.just("withdraw"), st.integers(0, 9), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(_op, max_size=60),
    capacity=st.integers(1, 5),
    max_bytes=st.integers(1, 20),
    overflow=st.sampled_from(list(Overflow)),
)
def test_the_ledger_against_a_model(
    ops: list[tuple[str, int, int]], capacity: int, max_bytes: int, overflow: Overflow
) -> None:
    ledger = OutboundLedger(capacity, max_bytes, overflow)
    model: list[dict[str, Any]] = []  # in sending order: id, size, state
    handed: list[Any] = []
    for op, key, size in ops:
        if op == "admit":
            message_id = None if key == 0 else key
            held = [m for m in model if m["id"] is not None]
            if message_id is not None and any(m["id"] == message_id for m in held):
                with pytest.raises(ConfigError):
                    ledger.admit(message_id, "m", size)
                continue
            fits = not model or (
                len(model) < capacity and sum(m["size"] for m in model) + size <= max_bytes
            )
            if not fits and overflow is not Overflow.DROP_OLDEST:
                with pytest.raises(SendBufferFull):
                    ledger.admit(message_id, "m", size)
                continue
            if not fits:
                flying = [m for m in model if m["state"] == "handed"]
                flying_bytes = sum(m["size"] for m in flying)
                if flying and (len(flying) >= capacity or flying_bytes + size > max_bytes):
                    with pytest.raises(SendBufferFull):
                        ledger.admit(message_id, "m", size)
                    continue
                expected_evicted = []
                for m in list(model):
                    now_fits = not model or (
                        len(model) < capacity and sum(x["size"] for x in model) + size <= max_bytes
                    )
                    if now_fits:
                        break
                    if m["state"] != "handed":
                        model.remove(m)
                        expected_evicted.append(m["entry"])
            else:
                expected_evicted = []
            entry, evicted = ledger.admit(message_id, "m", size)
            assert evicted == expected_evicted
            model.append({"id": message_id, "size": size, "state": "queued", "entry": entry})
        elif op == "hand":
            queued = [m for m in model if m["state"] == "queued"]
            nxt = ledger.next_queued()
            assert nxt is (queued[0]["entry"] if queued else None)
            if nxt is not None:
                ledger.hand(nxt)
                queued[0]["state"] = "handed"
                handed.append(queued[0])
        elif op == "written":
            if handed:
                m = handed.pop(0)
                ledger.written(m["entry"])
                if m in model:
                    if m["id"] is None:
                        model.remove(m)
                    else:
                        m["state"] = "written"
        elif op == "ack":
            done = ledger.acknowledge([key])
            expected = [m for m in model if m["id"] == key]
            assert done == [m["entry"] for m in expected]
            for m in expected:
                model.remove(m)
        elif op == "withdraw":
            candidates = [m for m in model if m["state"] == "queued"]
            if candidates:
                m = candidates[key % len(candidates)]
                assert ledger.withdraw(m["entry"])
                model.remove(m)
        # Invariants after every step.
        assert list(ledger) == [m["entry"] for m in model]
        assert ledger.bytes == sum(m["size"] for m in model)
        assert len(ledger) <= capacity
        assert ledger.bytes <= max_bytes or len(ledger) == 1
        assert ledger.to_resend() == [m["entry"] for m in model if m["state"] == "written"]
        assert [e.serial for e in ledger] == sorted(e.serial for e in ledger)
        assert all(e.state.value == m["state"] for e, m in zip(ledger, model, strict=True))


# ------------------------------------------------------------------ sequence numbers


def test_duplicates_are_dropped_and_a_gap_names_what_is_missing() -> None:
    seq = InboundSequence()
    verdicts = [seq.observe(n) for n in (5, 6, 6, 4, 7, 10, 9, 11)]
    assert [v.verdict for v in verdicts] == [
        Verdict.NEW,
        Verdict.NEW,
        Verdict.DUPLICATE,
        Verdict.DUPLICATE,
        Verdict.NEW,
        Verdict.GAP,
        Verdict.DUPLICATE,
        Verdict.NEW,
    ]
    gap = verdicts[5]
    assert (gap.expected, gap.missing) == (8, 2)
    assert (seq.last, seq.duplicates, seq.gaps, seq.missing) == (11, 3, 1, 2)


def test_a_kept_last_number_makes_the_first_one_a_gap_or_a_duplicate() -> None:
    seq = InboundSequence(last=10)
    assert seq.observe(10).verdict is Verdict.DUPLICATE
    observation = seq.observe(13)
    assert (observation.verdict, observation.expected, observation.missing) == (Verdict.GAP, 11, 2)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 40),
    resumes=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=6),
)
def test_replays_after_resumes_deliver_each_number_once_in_order(
    n: int, resumes: list[tuple[int, int]]
) -> None:
    """A server sends 1..n; at a few points the connection restarts and the server
    replays from somewhere at or before what the client has seen (a resume with a
    stale number). The application gets 1..n exactly once, in order, no gap."""
    arrivals: list[int] = []
    position = 0
    for cut, back in sorted(resumes):
        cut = min(cut, n)
        arrivals.extend(range(position + 1, max(position, cut) + 1))
        position = max(position, cut)
        replay_from = max(0, position - back)
        arrivals.extend(range(replay_from + 1, position + 1))
    arrivals.extend(range(position + 1, n + 1))
    seq = InboundSequence()
    delivered = [x for x in arrivals if seq.observe(x).verdict is not Verdict.DUPLICATE]
    assert delivered == list(range(1, n + 1))
    assert seq.gaps == 0 and seq.duplicates == len(arrivals) - n and seq.last == n


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-5, 50), max_size=50))
def test_whatever_arrives_the_delivered_numbers_strictly_increase(numbers: list[int]) -> None:
    seq = InboundSequence()
    delivered: list[int] = []
    missing = 0
    for number in numbers:
        observation = seq.observe(number)
        if observation.verdict is not Verdict.DUPLICATE:
            if delivered and number != delivered[-1] + 1:
                assert observation.verdict is Verdict.GAP
                assert observation.expected == delivered[-1] + 1
                missing += observation.missing
            delivered.append(number)
    assert delivered == sorted(set(delivered))
    assert seq.missing == missing
    assert seq.last == (delivered[-1] if delivered else None)


# ------------------------------------------------------------------ requests, dialect


def test_a_reply_matches_its_request_once() -> None:
    table = RequestTable()
    first, second = object(), object()
    table.add(1, first)
    table.add("b", second)
    with pytest.raises(ConfigError, match="request: id 1 is already waiting"):
        table.add(1, object())
    assert table.match(1) is first and table.match(1) is None
    table.discard("b", object())  # someone else's waiter: nothing happens
    assert len(table) == 1
    table.discard("b", second)
    assert len(table) == 0 and table.close() == []


def test_the_default_dialect_opts_out_of_everything() -> None:
    dialect = Dialect()
    assert dialect.message_id({"id": 1}) is None
    assert list(dialect.acknowledged({"ack": [1]})) == []
    assert dialect.control("x") is False
    assert dialect.sequence({"seq": 1}) is None
    assert dialect.resume(5) is None
    assert dialect.reply_to({}) is None
    assert dialect.client_ack({}) is None
    assert dialect.heartbeat(1, None) is None and not dialect.has_heartbeat
    assert dialect.heartbeat_reply({"pong": 1}) is False
    assert dialect.unsubscribe({"op": "subscribe"}) is None


# ------------------------------------------------------------------ subscriptions


def test_subscriptions_keep_their_order_and_are_found_by_message_and_id() -> None:
    subs = SubscriptionList()
    a = subs.add({"a": 1}, "A", "id-a")
    b = subs.add({"b": 1}, "B", None)
    c = subs.add({"c": 1}, "C", "id-c")
    assert [s.raw for s in subs] == ["A", "B", "C"] and len(subs) == 3
    assert subs.by_id("id-c") is c and subs.by_id("nope") is None
    with pytest.raises(ConfigError, match="subscribe: this message is subscribed already"):
        subs.add({"a": 1}, "A", None)
    with pytest.raises(ConfigError, match="subscribe: id 'id-a' is subscribed already"):
        subs.add({"x": 1}, "X", "id-a")
    assert subs.remove("A") is a and subs.by_id("id-a") is None
    with pytest.raises(ConfigError, match="unsubscribe: this message is not subscribed"):
        subs.remove("A")
    subs.discard(a)  # gone already: nothing happens
    subs.discard(b)
    assert [s.raw for s in subs] == ["C"]
    again = subs.add({"a": 1}, "A", "id-a")  # made again: last in order
    assert [s.raw for s in subs] == ["C", "A"] and again is not a


def test_a_dialect_field_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="sequence: must be callable, got int"):
        Dialect(sequence=3)  # type: ignore[arg-type]
