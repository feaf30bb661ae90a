"""``Config.from_mapping`` / ``Config.from_toml``: strict types, one-line errors that
name the key path, and the ``[connect]`` table of ``tether connect --config``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from tether import Backoff, Config, ConfigError, Overflow
from tether.cli.connect.config_file import ConnectSettings, read_connect_file

FULL_TOML = """\
connect_timeout = 3.5
close_timeout = 2
ping_interval = 10
ping_timeout = 5
idle_timeout = 60
max_attempts = 8
give_up_after = 300
send_buffer = 64
overflow = "drop_oldest"
receive_buffer = 128
max_message_size = 65536

[backoff]
initial = 0.25
maximum = 20
multiplier = 3
jitter = false
first_immediate = false
"""

FULL_CONFIG = Config(
    connect_timeout=3.5,
    close_timeout=2.0,
    ping_interval=10.0,
    ping_timeout=5.0,
    idle_timeout=60.0,
    backoff=Backoff(
        initial=0.25, maximum=20.0, multiplier=3.0, jitter=False, first_immediate=False
    ),
    max_attempts=8,
    give_up_after=300.0,
    send_buffer=64,
    overflow=Overflow.DROP_OLDEST,
    receive_buffer=128,
    max_message_size=65536,
)


def error_of(mapping: Any) -> str:
    with pytest.raises(ConfigError) as info:
        Config.from_mapping(mapping)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------- valid data


def test_a_full_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(FULL_TOML)
    assert Config.from_toml(path) == FULL_CONFIG
    assert Config.from_toml(str(path)) == FULL_CONFIG
    assert Config.from_toml(FULL_TOML) == FULL_CONFIG  # TOML text
    # ... and back: every field of the config, unstructured, loads to the same config.
    data = attrs.asdict(FULL_CONFIG, filter=lambda a, _: a.name != "retry_if")
    data["overflow"] = FULL_CONFIG.overflow.value
    assert Config.from_mapping(data) == FULL_CONFIG


def test_empty_input_is_the_default_config() -> None:
    assert Config.from_mapping({}) == Config()
    assert Config.from_toml("") == Config()


def test_false_or_none_disables_an_optional_timer_or_limit() -> None:
    config = Config.from_mapping(
        {"ping_interval": False, "idle_timeout": None, "max_attempts": False}
    )
    assert (config.ping_interval, config.idle_timeout, config.max_attempts) == (None, None, None)


def test_integers_are_seconds_and_instances_pass_through() -> None:
    config = Config.from_mapping(
        {"ping_interval": 5, "backoff": Backoff(initial=1), "overflow": Overflow.RAISE}
    )
    assert config.ping_interval == 5.0
    assert isinstance(config.ping_interval, float)
    assert config.backoff == Backoff(initial=1)
    assert config.overflow is Overflow.RAISE


# -------------------------------------------------------------------- bad data


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"backoff": {"initial": "fast"}}, "backoff.initial: expected a number, got 'fast'"),
        ({"backoff": {"jitter": "yes"}}, "backoff.jitter: expected true or false, got 'yes'"),
        ({"backoff": 3}, "backoff: expected a table, got 3"),
        ({"ping_interval": "5"}, "ping_interval: expected a number, or false to disable, got '5'"),
        (
            {"ping_interval": True},
            "ping_interval: expected a number, or false to disable, got True",
        ),
        ({"max_attempts": 1.5}, "max_attempts: expected an integer, or false to disable, got 1.5"),
        ({"send_buffer": True}, "send_buffer: expected an integer, got True"),
        ({"send_buffer": None}, "send_buffer: expected an integer, got None"),
        (
            {"overflow": "drop_newest"},
            "overflow: expected one of 'block', 'drop_oldest', 'raise', got 'drop_newest'",
        ),
        ({"overflow": 1}, "overflow: expected one of 'block', 'drop_oldest', 'raise', got 1"),
        ([1, 2], "expected a table, got [1, 2]"),
    ],
)
def test_a_wrong_type_names_the_key_path_and_the_expected_type(mapping: Any, message: str) -> None:
    assert error_of(mapping) == message


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"pingg_interval": 5}, "pingg_interval: unknown key (did you mean ping_interval?)"),
        ({"backoff": {"intial": 1}}, "backoff.intial: unknown key (did you mean initial?)"),
        ({"colour": "blue"}, "colour: unknown key"),
        (
            {"connect": {"url": "ws://x"}},
            "connect: unknown key (the [connect] table is read by `tether connect --config`)",
        ),
    ],
)
def test_an_unknown_key_is_named_with_a_suggestion(mapping: Any, message: str) -> None:
    assert error_of(mapping) == message


def test_retry_if_is_rejected_with_a_reason() -> None:
    message = error_of({"retry_if": "tether.policy.default_retry_if"})
    assert message.startswith("retry_if: cannot be loaded from a file or mapping")
    assert "attrs.evolve(config, retry_if=fn)" in message
    assert error_of({"retry_if": None}).startswith("retry_if: cannot be loaded")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"ping_timeout": -1}, "ping_timeout: must be > 0, got -1.0"),
        ({"connect_timeout": float("nan")}, "connect_timeout: must be finite, got nan"),
        ({"backoff": {"initial": 0}}, "backoff.initial: must be > 0, got 0.0"),
        ({"backoff": {"multiplier": 0.5}}, "backoff.multiplier: must be >= 1, got 0.5"),
        (
            {"backoff": {"initial": 10, "maximum": 1}},
            "backoff.maximum: must be >= initial (10.0), got 1.0",
        ),
        ({"send_buffer": 0}, "send_buffer: must be >= 1, got 0"),
    ],
)
def test_config_validators_pass_through_with_the_path(mapping: Any, message: str) -> None:
    assert error_of(mapping) == message


def test_every_problem_is_reported_on_one_line() -> None:
    message = error_of({"ping_interval": "x", "backoff": {"bogus": 1, "maximum": "big"}, "zz": 0})
    assert message == (
        "ping_interval: expected a number, or false to disable, got 'x'; "
        "backoff.maximum: expected a number, got 'big'; "
        "backoff.bogus: unknown key; "
        "zz: unknown key"
    )


def test_long_values_are_shortened() -> None:
    message = error_of({"ping_interval": "x" * 200})
    assert len(message) < 120
    assert message.endswith("...")


def test_toml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^<toml>: invalid TOML: .*line 1, column"):
        Config.from_toml("ping_interval = \n")
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read: No such file"):
        Config.from_toml(missing)
    with pytest.raises(ConfigError, match=r"^backoff\.initial: expected a number, got 'fast'$"):
        Config.from_toml("[backoff]\ninitial = 'fast'\n")


# ------------------------------------------------------------- the [connect] table


def test_connect_table(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        'ping_interval = 5\n[connect]\nurl = "ws://a/"\n'
        'headers = { A = "1" }\nsubprotocols = "v1"\n'
    )
    document, settings = read_connect_file(path)
    assert document == {"ping_interval": 5}
    assert settings == ConnectSettings(url=("ws://a/",), headers={"A": "1"}, subprotocols=("v1",))
    assert settings.proxy == "environment"  # unset: the environment decides


@pytest.mark.parametrize(
    ("entry", "proxy"),
    [
        ('proxy = "socks5h://u:p@127.0.0.1:1080"', "socks5h://u:p@127.0.0.1:1080"),
        ("proxy = false", None),
    ],
)
def test_connect_table_proxy(tmp_path: Path, entry: str, proxy: str | None) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f"[connect]\n{entry}\n")
    _, settings = read_connect_file(path)
    assert settings.proxy == proxy
    assert ":p@" not in repr(settings)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("proxy = true", "connect.proxy: expected a proxy URL string or false, got bool"),
        ('proxy = "ftp://u:hunter2@p"', "connect.proxy: unsupported proxy scheme in 'ftp://***@p'"),
    ],
)
def test_connect_table_proxy_errors(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f"[connect]\n{entry}\n")
    with pytest.raises(ConfigError) as info:
        read_connect_file(path)
    assert str(info.value).startswith(f"{path}: {problem}")


def test_connect_table_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[connect]\nurl = ["ws://a/", 2]\nheaders = { N = 3 }\nproxi = "x"\n')
    with pytest.raises(ConfigError) as info:
        read_connect_file(path)
    assert str(info.value) == (
        f"{path}: connect.url[1]: expected a string, got 2; "
        "connect.headers.N: expected a string, got int; "
        "connect.proxi: unknown key (did you mean proxy?)"
    )
    path.write_text("[connect]\n[backoff]\nmaximum = -1\n")
    with pytest.raises(ConfigError, match=r"backoff\.maximum: must be > 0"):
        read_connect_file(path)


SECRET = "s3cr3t-t0ken-4f9a"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            f'Authorization = ["Bearer {SECRET}"]',
            "connect.headers.Authorization: expected a string",
        ),
        (
            f'Authorization = "Bearer {SECRET}\\n"',
            "connect.headers: 'Authorization': value has a line",
        ),
        (
            f'Authorization = "Bearer {SECRET}\\u20ac"',
            "connect.headers: 'Authorization': value has a",
        ),
        (f'X-Token = {{ value = "{SECRET}" }}', "connect.headers.X-Token: expected a string"),
        ('Sec-WebSocket-Key = "x"', "connect.headers: 'Sec-WebSocket-Key' is set by tether"),
        (f'"Authorization: Bearer {SECRET}" = ""', "connect.headers: name 'Authorization' then"),
    ],
)
def test_connect_headers_errors_name_the_header_never_its_value(
    tmp_path: Path, entry: str, problem: str
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f"[connect]\nheaders = {{ {entry} }}\n")
    with pytest.raises(ConfigError) as info:
        read_connect_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {problem}")
    assert SECRET not in message
    assert SECRET not in repr(info.value)
    for chained in (info.value.__cause__, info.value.__context__):
        assert SECRET not in str(chained) and SECRET not in repr(chained)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[connect]\nurl = \n", r"invalid TOML: .*\(at line 2, column 7\)"),
        (b'[connect]\nurl = "ws://\xff/"\n', "cannot read: 'utf-8' codec can't decode byte 0xff"),
        (b"connect = 3\n", "connect: expected a table, got 3"),
        (b"[connect]\nurl = 3\n", "connect.url: expected a string or a list of strings, got 3"),
        (
            b"[connect]\nsubprotocols = { v1 = true }\n",
            r"connect\.subprotocols: expected a string or a list of strings, got \{'v1': True\}",
        ),
        (b'[connect]\nheaders = "A: 1"\n', "connect.headers: expected a table of strings, got str"),
    ],
)
def test_connect_file_errors(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bot.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        read_connect_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert re.search(problem, message), message
    assert "\n" not in message


def test_connect_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": cannot read: No such file or directory$"):
        read_connect_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r": cannot read: Is a directory$"):
        read_connect_file(tmp_path)


def test_connect_file_long_values_are_shortened(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f"[connect]\nurl = {{ a = '{'x' * 200}' }}\n")
    with pytest.raises(ConfigError) as info:
        read_connect_file(path)
    shown = str(info.value).split("got ", 1)[1]
    assert shown.startswith("{'a': 'xxx") and shown.endswith("...")
    assert len(shown) == 40  # _MAX_VALUE_REPR
