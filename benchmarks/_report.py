"""Turn samples into the Markdown report: a summary, one table per benchmark, errors.

Every figure is the median over runs (for (e) and (f): over all samples of all runs)
with min and max beside it, and a ratio to tether's median: ``value / tether`` (so
tether reads 1.00; for msgs/s and MiB/s above 1 means faster than tether, for
KiB/conn and ms above 1 means more memory or slower than tether).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from _scenarios import BenchSpec, Sample
from clients import TETHER, ClientSpec

Results = dict[tuple[str, str], list[Sample]]
"""Samples keyed by (benchmark key, client name), in run order."""


@dataclass(frozen=True)
class Stat:
    """Median, min and max of one cell, with the number of values behind it."""

    median: float
    low: float
    high: float
    n: int


def stat_of(samples: Sequence[Sample]) -> Stat | None:
    """Pool the values of ``samples``; ``None`` when there are none."""
    values = [value for sample in samples for value in sample.values]
    if not values:
        return None
    return Stat(statistics.median(values), min(values), max(values), len(values))


def number(value: float) -> str:
    """Three significant figures or more, with thousands separators."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _median(values: Sequence[float | None]) -> str:
    present = [value for value in values if value is not None]
    return f"{statistics.median(present):.0f}" if present else "—"


def _failure(samples: Sequence[Sample]) -> str:
    errors = [sample.error for sample in samples if sample.error]
    if not errors:
        return "—"
    first = errors[0]
    return first if len(first) <= 60 else first[:57] + "..."


def _ratio(stat: Stat | None, reference: Stat | None) -> str:
    if stat is None or reference is None or reference.median == 0:
        return "n/a"
    return f"{stat.median / reference.median:.2f}"


def _cell(stat: Stat | None, reference: Stat | None, samples: Sequence[Sample]) -> str:
    if stat is None:
        return _failure(samples).replace("|", "/")
    if reference is None:
        return number(stat.median)
    return f"{number(stat.median)} ({_ratio(stat, reference)})"


def summary(results: Results, benches: Sequence[BenchSpec], clients: Sequence[ClientSpec]) -> str:
    """One row per client, one column per benchmark: ``median (ratio to tether)``."""
    heads = [f"({spec.letter}) {spec.title} {spec.unit}" for spec in benches]
    lines = [
        "| client | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(benches),
    ]
    for client in clients:
        cells = []
        for spec in benches:
            if spec.key not in client.benches:
                cells.append("")
                continue
            samples = results.get((spec.key, client.name), [])
            reference = stat_of(results.get((spec.key, TETHER), []))
            cells.append(_cell(stat_of(samples), reference, samples))
        lines.append(f"| {client.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _extra_heads(spec: BenchSpec) -> list[str]:
    if spec.key == "dead_peer":
        return ["reasons"]
    if spec.key == "reconnect":
        return []
    heads = ["client CPU %", "server CPU %"]
    if spec.key != "idle":
        heads.append(f"{spec.unit.split('/')[0]} per client CPU-s")
    return heads


def _extra_cells(spec: BenchSpec, samples: Sequence[Sample]) -> list[str]:
    if spec.key == "dead_peer":
        return [", ".join(sorted({note for sample in samples for note in sample.notes})) or "—"]
    if spec.key == "reconnect":
        return []
    cells = [
        _median([sample.client_cpu_pct for sample in samples]),
        _median([sample.server_cpu_pct for sample in samples]),
    ]
    if spec.key != "idle":
        # Throughput per second of client CPU: what the client would reach on a core of
        # its own; it survives a busy machine better than the wall-clock figure.
        efficiency = [
            100 * sample.values[0] / sample.client_cpu_pct
            for sample in samples
            if sample.values and sample.client_cpu_pct
        ]
        cells.append(number(statistics.median(efficiency)) if efficiency else "—")
    return cells


def detail(
    results: Results, spec: BenchSpec, clients: Sequence[ClientSpec], description: str
) -> str:
    """The table of one benchmark: median, min, max, ratio, runs, CPU shares."""
    better = "higher is better" if spec.higher_is_better else "lower is better"
    pooled = spec.key in ("reconnect", "dead_peer")
    heads = ["client", "median", "min", "max", "÷ tether", "samples" if pooled else "runs ok"]
    extra = _extra_heads(spec)
    aligns = ["---"] + ["---:"] * 5 + [("---" if head == "reasons" else "---:") for head in extra]
    lines = [
        f"### ({spec.letter}) {spec.title}, {spec.unit} ({better})",
        "",
        description + ".",
        "",
        "| " + " | ".join(heads + extra) + " |",
        "|" + "|".join(aligns) + "|",
    ]
    reference = stat_of(results.get((spec.key, TETHER), []))
    for client in clients:
        if spec.key not in client.benches:
            continue
        samples = results.get((spec.key, client.name), [])
        stat = stat_of(samples)
        ok = sum(1 for sample in samples if sample.error is None)
        count = f"{stat.n if stat else 0}" if pooled else f"{ok}/{len(samples)}"
        tail = "".join(f" {cell} |" for cell in _extra_cells(spec, samples))
        if stat is None:
            figures = f"{_failure(samples).replace('|', '/')} | | | n/a"
        else:
            figures = (
                f"{number(stat.median)} | {number(stat.low)} | {number(stat.high)}"
                f" | {_ratio(stat, reference)}"
            )
        lines.append(f"| {client.name} | {figures} | {count} |" + tail)
    return "\n".join(lines)


def errors(results: Results) -> str:
    """Every failed run, one line each (empty when none failed)."""
    lines = []
    for (bench, client), samples in results.items():
        for index, sample in enumerate(samples, start=1):
            if sample.error:
                lines.append(f"* {client}, {bench}, run {index}: {sample.error}")
    return "\n".join(lines)
