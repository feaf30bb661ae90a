"""JsonCodec with and without msgspec: the same values and the same DecodeError messages."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

import tether
from tether import codec as codec_module

msgspec = pytest.importorskip("msgspec")


@attrs.frozen
class Tick:
    symbol: str
    price: float
    seq: int


@pytest.fixture(params=["msgspec", "stdlib"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stdlib":
        monkeypatch.setattr(codec_module, "_fast_loads", lambda: None)
    return str(request.param)


def test_the_fast_path_is_msgspec_only_when_installed(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = msgspec.json.decode

    def spy(raw: Any) -> Any:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(msgspec.json, "decode", spy)
    assert tether.JsonCodec().decode('{"a":[1,2]}') == {"a": [1, 2]}
    assert calls == (['{"a":[1,2]}'] if backend == "msgspec" else [])


def test_missing_msgspec_means_stdlib(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_msgspec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "msgspec":
            raise ImportError("no msgspec")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_msgspec)
    assert codec_module._fast_loads() is None
    assert codec_module._loads_with(None) is json.loads


SAME_VALUES = [
    '{"symbol":"BTC","price":1.5,"seq":7}',
    b'{"symbol":"BTC","price":1.5,"seq":7}',
    "[1, 2.0, -0, true, false, null]",
    '{"a":1,"a":2}',
    "NaN",
    "[Infinity, -Infinity]",
    "1e400",
    '"\\ud800"',
    "18446744073709551616",
    "[12345678901234567890123]",
    b"123456789012345678901",
    '"\\u00e9 caf\u00e9"',
    "9223372036854775808",
    "-92233720368547758090",
    "[0.1, 1.7976931348623157e308, 5e-324]",
    b"\xef\xbb\xbf{}",  # json reads a UTF-8 BOM in bytes, msgspec refuses it
]


@pytest.mark.parametrize("raw", SAME_VALUES)
def test_values_equal_json_loads(backend: str, raw: str | bytes) -> None:
    got = tether.JsonCodec().decode(raw)
    want = json.loads(raw)
    assert repr(got) == repr(want)  # repr: NaN != NaN, and an int is not a float


BAD = ["{", b"{", b"\xff", "", "[1,2", "01", "[1,]", '"\t"', "nul"]


@pytest.mark.parametrize("raw", BAD)
def test_errors_equal_json_loads(backend: str, raw: str | bytes) -> None:
    with pytest.raises((ValueError, UnicodeDecodeError)) as expected:
        json.loads(raw)
    with pytest.raises(tether.DecodeError) as caught:
        tether.JsonCodec().decode(raw)
    assert str(caught.value) == f"not JSON: {expected.value}"
    assert caught.value.raw == raw
    assert type(caught.value.__cause__) is type(expected.value)


def test_structure_and_its_error(backend: str) -> None:
    codec = tether.JsonCodec(Tick)
    assert codec.decode(b'{"symbol":"ETH","price":2,"seq":3}') == Tick("ETH", 2.0, 3)
    with pytest.raises(tether.DecodeError) as caught:
        codec.decode('{"symbol":"ETH"}')
    assert str(caught.value).startswith("does not fit Tick: ")
    assert codec.encode(Tick("ETH", 2.5, 3)) == '{"symbol":"ETH","price":2.5,"seq":3}'


def test_deep_nesting_raises_json_s_recursion_error(backend: str) -> None:
    raw = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError) as expected:
        json.loads(raw)
    with pytest.raises(RecursionError) as caught:
        tether.JsonCodec().decode(raw)
    assert str(caught.value) == str(expected.value)
