"""Config validation: every invalid value raises ConfigError naming the field."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from tether import Backoff, Compression, Config, ConfigError, Overflow


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"close_timeout": -1}, "close_timeout"),
        ({"ping_interval": float("nan")}, "ping_interval"),
        ({"ping_timeout": float("inf")}, "ping_timeout"),
        ({"idle_timeout": "5"}, "idle_timeout"),
        ({"give_up_after": True}, "give_up_after"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"send_buffer": 0}, "send_buffer"),
        ({"receive_buffer": -3}, "receive_buffer"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"overflow": "block"}, "overflow"),
        ({"backoff": {"initial": 1}}, "backoff"),
        ({"retry_if": 3}, "retry_if"),
    ],
)
def test_invalid_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        Config(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial": 0}, "initial"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"initial": 10, "maximum": 1}, "maximum"),
        ({"jitter": 1}, "jitter"),
        ({"bounded_jitter": 1}, "bounded_jitter"),
    ],
)
def test_invalid_backoff_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ping_timeout"):
        Config(ping_timeout=-1)


def test_defaults_match_the_design() -> None:
    config = Config()
    assert (config.connect_timeout, config.close_timeout) == (10, 5)
    assert (config.ping_interval, config.ping_timeout, config.idle_timeout) == (20, 20, None)
    assert config.backoff == Backoff(
        initial=0.5,
        maximum=30,
        multiplier=2,
        jitter=True,
        first_immediate=True,
        bounded_jitter=True,
    )
    assert (config.max_attempts, config.give_up_after) == (None, None)
    assert (config.send_buffer, config.receive_buffer) == (1024, 1024)
    assert (config.send_buffer_bytes, config.receive_buffer_bytes) == (2**24, 2**24)
    assert config.overflow is Overflow.BLOCK
    assert config.max_message_size == 2**20


def test_config_is_frozen_and_evolvable() -> None:
    config = Config()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.ping_interval = 1  # type: ignore[misc]
    assert attrs.evolve(config, ping_interval=None).ping_interval is None
    with pytest.raises(ConfigError, match=r"^ping_interval: "):
        attrs.evolve(config, ping_interval=-2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Backoff(initial=None), "initial: must be a number, got None"),
        (
            lambda: Compression(client_max_window_bits=12.0),
            "client_max_window_bits: must be an integer, got 12.0",
        ),
        (
            lambda: Compression(compression_level=True),
            "compression_level: must be an integer, got True",
        ),
    ],
)
def test_a_value_of_the_wrong_type_says_what_was_expected(make: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make()
    assert str(raised.value) == message
