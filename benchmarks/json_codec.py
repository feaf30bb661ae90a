"""JsonCodec decode+structure of a typical message: stdlib ``json`` versus msgspec.

A market-data tick of about 230 bytes (text, as a WebSocket text message arrives) is
decoded and structured into an attrs class by ``tether.JsonCodec(Tick)``, once with
msgspec (the ``speedups`` extra) and once with the codec's stdlib path (msgspec hidden the
way tests/unit/test_codec.py hides it). Median of ``--repeats`` timings of ``--number``
decodes each, in one process; CPU-bound, so shared cores make it noisy.

    python benchmarks/json_codec.py            # writes benchmarks/results/json_codec.md
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import statistics
import timeit
from collections.abc import Sequence

import attrs

import tether
from tether import codec as codec_module

RESULTS = pathlib.Path(__file__).parent / "results" / "json_codec.md"


@attrs.frozen
class Level:
    price: float
    size: float


@attrs.frozen
class Tick:
    channel: str
    symbol: str
    seq: int
    time: str
    bids: list[Level]
    asks: list[Level]


MESSAGE = (
    '{"channel":"book","symbol":"BTC-USD","seq":123456789,'
    '"time":"2026-12-02T20:15:01.123456Z",'
    '"bids":[{"price":97123.5,"size":0.25},{"price":97123.0,"size":1.5},'
    '{"price":97122.5,"size":3.0}],'
    '"asks":[{"price":97124.0,"size":0.1},{"price":97124.5,"size":2.0},'
    '{"price":97125.0,"size":4.75}]}'
)


def _stdlib_codec() -> tether.JsonCodec[Tick]:
    fast = codec_module._fast_loads
    codec_module._fast_loads = lambda: None  # type: ignore[assignment]
    try:
        return tether.JsonCodec(Tick)
    finally:
        codec_module._fast_loads = fast  # type: ignore[assignment]


def measure(number: int, repeats: int) -> dict[str, float]:
    """Median microseconds per decode+structure, by backend."""
    codecs = {"stdlib json": _stdlib_codec(), "msgspec": tether.JsonCodec(Tick)}
    if codec_module._fast_loads() is None:
        del codecs["msgspec"]
    expected = codecs["stdlib json"].decode(MESSAGE)
    out = {}
    for name, codec in codecs.items():
        assert codec.decode(MESSAGE) == expected
        times = timeit.repeat(lambda c=codec: c.decode(MESSAGE), number=number, repeat=repeats)
        out[name] = statistics.median(times) / number * 1e6
    return out


def table(result: dict[str, float]) -> str:
    base = result["stdlib json"]
    lines = [
        f"JsonCodec(Tick).decode of a {len(MESSAGE)}-byte message (median µs per message)",
        "",
        "| backend | µs / message | messages/s | vs stdlib |",
        "|---|---:|---:|---:|",
    ]
    for name, us in result.items():
        lines.append(f"| {name} | {us:.2f} | {1e6 / us:,.0f} | {base / us:.2f}x |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    text = table(measure(args.number, args.repeats))
    print(text)
    if not args.no_save:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        RESULTS.write_text(
            f"{text}\n\nCommand: `python benchmarks/json_codec.py` ({stamp}; "
            "2 shared cores, other engineers' jobs running: noisy).\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
