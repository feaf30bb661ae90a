"""Paced sends, the pure part (issue 13, item 6): ``tether.Rate`` (validated, loaded
from config files) and the token bucket ``tether.policy.TokenBucket``. Schedules are
written as literal arithmetic (k / 5 seconds), and checked against an exact rational
model of a token bucket."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tether
from tether import Config, ConfigError, Rate
from tether.policy import TokenBucket


def departures(rate: Rate, arrivals: list[float]) -> list[float]:
    """When each message (arriving at those times, in order) leaves: as soon as the
    bucket allows, in order (the writer's discipline)."""
    bucket = TokenBucket(rate)
    out: list[float] = []
    now = 0.0
    for arrival in arrivals:
        now = bucket.next_at(max(now, arrival))
        bucket.take(1, now)
        out.append(now)
    return out


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of ``times`` in any half-open window ``[w, w + window)``."""
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_twenty_at_five_a_second_with_a_burst_of_five_leave_on_the_fifths() -> None:
    """The issue's example: 5 at once, then one every 0.2 s."""
    times = departures(Rate(messages=5, per=1.0, burst=5), [0.0] * 20)
    assert times == [0.0] * 5 + [k / 5 for k in range(1, 16)]
    assert times[-1] == 3.0


def test_the_default_burst_of_one_keeps_binance_s_five_a_second_in_every_window() -> None:
    """Binance: 5 incoming messages a second per connection. burst=1 spreads them at
    0.2 s and no 1 s window holds more than 5."""
    times = departures(Rate(messages=5), [0.0] * 20)
    assert times == [k / 5 for k in range(20)]
    assert most_in_any_window(times, 1.0) == 5


def test_discord_s_120_per_60_s() -> None:
    times = departures(Rate(messages=120, per=60), [0.0] * 300)
    assert times == [k * 60 / 120 for k in range(300)]
    assert most_in_any_window(times, 60.0) == 120
    # A burst of 61 at 60 per 60 s stays within 120 in any 60 s as well.
    bursty = departures(Rate(messages=60, per=60, burst=61), [0.0] * 300)
    assert bursty[:61] == [0.0] * 61 and bursty[61] == 1.0
    assert most_in_any_window(bursty, 60.0) == 120


def test_a_quiet_bucket_fills_again_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(Rate(messages=5, per=1.0, burst=5))
    assert bucket.available(0) == 5
    bucket.take(5, 0)
    assert bucket.available(0) == 0 and bucket.next_at(0) == 0.2
    assert bucket.available(0.19) == 0
    assert bucket.available(0.2) == 1
    assert bucket.available(0.5) == 2  # 0.2 and 0.4 have passed
    assert bucket.available(1.0) == 5
    assert bucket.available(100.0) == 5  # never more than the burst
    bucket.take(3, 100.0)
    assert bucket.available(100.0) == 2 and bucket.next_at(100.0) == 100.0
    bucket.take(2, 100.0)
    assert bucket.next_at(100.0) == 100.2


def test_reserve_queues_each_message_behind_the_last() -> None:
    bucket = TokenBucket(Rate(messages=2, per=1.0, burst=2))
    assert [bucket.reserve(0.0) for _ in range(5)] == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert bucket.available(1.0) == 0  # reserved up to 1.5
    assert bucket.next_at(1.0) == 2.0
    assert bucket.reserve(10.0) == 10.0  # quiet since: at once


class ExactBucket:
    """A token bucket in rationals, refilled continuously: the model."""

    def __init__(self, rate: Rate) -> None:
        self.rate = Fraction(rate.messages) / Fraction(rate.per)
        self.burst = rate.burst
        self.tokens = Fraction(rate.burst)
        self.at = Fraction(0)

    def send(self, arrival: Fraction) -> Fraction:
        now = max(arrival, self.at)
        tokens = min(Fraction(self.burst), self.tokens + (now - self.at) * self.rate)
        if tokens < 1:
            now += (1 - tokens) / self.rate
            tokens = Fraction(1)
        self.tokens, self.at = tokens - 1, now
        return now


@settings(max_examples=300, deadline=None)
@given(
    messages=st.integers(1, 50),
    per=st.sampled_from([0.1, 0.5, 1.0, 2.0, 60.0]),
    burst=st.integers(1, 10),
    gaps=st.lists(st.integers(0, 40), min_size=1, max_size=60),
)
def test_the_bucket_against_an_exact_model(
    messages: int, per: float, burst: int, gaps: list[int]
) -> None:
    """Arrivals at whole tenths of a second: every message leaves when the rational
    model says (to 1e-9 s), and no window of ``per`` seconds holds more than
    ``messages + burst - 1``."""
    rate = Rate(messages=messages, per=per, burst=burst)
    arrivals = [sum(gaps[: i + 1]) / 10 for i in range(len(gaps))]
    got = departures(rate, arrivals)
    model = ExactBucket(rate)
    want = [model.send(Fraction(sum(gaps[: i + 1]), 10)) for i in range(len(gaps))]
    assert all(abs(Fraction(g) - w) < Fraction(1, 10**9) for g, w in zip(got, want, strict=True))
    assert most_in_any_window(got, per * (1 - 1e-9)) <= messages + burst - 1


def test_rate_is_validated_naming_the_field() -> None:
    assert Rate(messages=5) == Rate(messages=5, per=1.0, burst=1)
    assert Rate(messages=120, per=60).interval == 0.5
    for kwargs, match in [
        ({"messages": 0}, "messages: must be >= 1"),
        ({"messages": 1.5}, "messages: must be an integer"),
        ({"messages": 5, "per": 0}, "per: must be > 0"),
        ({"messages": 5, "per": float("inf")}, "per: must be finite"),
        ({"messages": 5, "burst": 0}, "burst: must be >= 1"),
    ]:
        with pytest.raises(ConfigError, match=match):
            Rate(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="send_rate: must be a Rate or None, got 5"):
        Config(send_rate=5)  # type: ignore[arg-type]
    assert Config().send_rate is None
    assert tether.Rate is Rate


def test_send_rate_loads_from_toml_and_mappings() -> None:
    config = Config.from_toml("[send_rate]\nmessages = 5\nper = 1\nburst = 5\n")
    assert config.send_rate == Rate(messages=5, per=1.0, burst=5)
    assert Config.from_toml("send_rate = false").send_rate is None
    assert Config.from_mapping({"send_rate": {"messages": 120, "per": 60}}).send_rate == Rate(
        messages=120, per=60
    )
    for text, message in [
        ("[send_rate]\nper = 2\n", "send_rate.messages: missing (it has no default)"),
        ("[send_rate]\nmessages = 0\n", "send_rate.messages: must be >= 1, got 0"),
        ('[send_rate]\nmessages = "5"\n', "send_rate.messages: expected an integer, got '5'"),
        ("[send_rate]\nmessages = 5\nrate = 3\n", "send_rate.rate: unknown key"),
        ("send_rate = true", "send_rate: expected a table, or false to disable, got True"),
        ("send_rate = 5", "send_rate: expected a table, or false to disable, got 5"),
    ]:
        with pytest.raises(ConfigError) as raised:
            Config.from_toml(text)
        assert str(raised.value).startswith(message), str(raised.value)
