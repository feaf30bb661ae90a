"""The benchmarks (a)-(f): their sizes, and how one run of one client is driven.

(a)-(d) need nothing but the echo server: the client measures and reports one figure.
(e) and (f) are driven from the client's events: the harness restarts the server on
every greeting (e), or stalls the proxied link on every new connection (f), and turns
the timestamps of both sides into latencies. Each of those runs yields several
samples; their figures pool all samples of all runs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from _procs import EchoServer, Outcome, Record, StallProxy, run_client
from clients import ClientSpec
from clients._common import TEXT_BYTES

MIB = 1024 * 1024

PING_INTERVAL_S = 1.0
"""(f) tether ``ping_interval`` in seconds (``--quick``: half)."""

PING_TIMEOUT_S = 1.0
"""(f) tether ``ping_timeout`` in seconds (``--quick``: half)."""


@dataclass(frozen=True)
class BenchSpec:
    """One benchmark.

    Attributes:
        key: name used by the clients and ``--bench``.
        letter: ``a``-``f``, also accepted by ``--bench``.
        title: column heading.
        unit: unit of its figures.
        higher_is_better: direction, for the reader.
        count: messages, connections, restarts or stalls per run.
        quick_count: the same under ``--quick``.
        size: payload in bytes (0 when there is none).
        what: one line saying what is measured.
    """

    key: str
    letter: str
    title: str
    unit: str
    higher_is_better: bool
    count: int
    quick_count: int
    size: int
    what: str


BENCHES: tuple[BenchSpec, ...] = (
    BenchSpec(
        key="round_trip",
        letter="a",
        title="round trip",
        unit="msgs/s",
        higher_is_better=True,
        count=20_000,
        quick_count=2_000,
        size=TEXT_BYTES,
        what="{count:,} sequential 32-byte text echoes (send, then wait for the echo)",
    ),
    BenchSpec(
        key="stream",
        letter="b",
        title="streaming",
        unit="msgs/s",
        higher_is_better=True,
        count=50_000,
        quick_count=5_000,
        size=TEXT_BYTES,
        what="{count:,} pipelined 32-byte text messages: one task sends all, one counts echoes",
    ),
    BenchSpec(
        key="large",
        letter="c",
        title="1 MiB echoes",
        unit="MiB/s",
        higher_is_better=True,
        count=200,
        quick_count=20,
        size=MIB,
        what="{count:,} sequential 1 MiB binary echoes; MiB/s counts the payload one way",
    ),
    BenchSpec(
        key="idle",
        letter="d",
        title="idle memory",
        unit="KiB/conn",
        higher_is_better=False,
        count=1_000,
        quick_count=100,
        size=0,
        what="RSS growth of one process opening {count:,} idle connections, per connection",
    ),
    BenchSpec(
        key="reconnect",
        letter="e",
        title="reconnect",
        unit="ms",
        higher_is_better=False,
        count=10,
        quick_count=3,
        size=0,
        what="{count} server restart(s) per run: from the new server accepting (and the old"
        " connection gone) to the first message on the new connection",
    ),
    BenchSpec(
        key="dead_peer",
        letter="f",
        title="dead peer",
        unit="ms",
        higher_is_better=False,
        count=3,
        quick_count=1,
        size=0,
        what="{count} link stall(s) per run: from the stall to ConnectionLost"
        " (bound: ping_interval + ping_timeout = {bound:g} s)",
    ),
)
BENCH_BY_NAME = {name: spec for spec in BENCHES for name in (spec.key, spec.letter)}


@dataclass
class Sample:
    """One client run: its figures (one, or one per restart/stall) and CPU shares.

    CPU shares are percent of one core over the measured section (``None`` when the
    run failed or the benchmark has no measured section).
    """

    values: list[float] = field(default_factory=list)
    error: str | None = None
    client_cpu_pct: float | None = None
    server_cpu_pct: float | None = None
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)


class Harness:
    """Runs one (benchmark, client) pair at a time against one echo server."""

    def __init__(self, server: EchoServer, *, quick: bool, timeout: float, downtime: float) -> None:
        self.server = server
        self.quick = quick
        self.timeout = timeout
        self.downtime = downtime
        self._proxy: StallProxy | None = None
        self._rng = random.Random(20240601)

    @property
    def ping(self) -> tuple[float, float]:
        """(ping_interval, ping_timeout) in seconds for (f)."""
        scale = 0.5 if self.quick else 1.0
        return PING_INTERVAL_S * scale, PING_TIMEOUT_S * scale

    def count(self, spec: BenchSpec) -> int:
        """Messages, connections, restarts or stalls per run of ``spec``."""
        return spec.quick_count if self.quick else spec.count

    def describe(self, spec: BenchSpec) -> str:
        """The benchmark's one-line description with this run's numbers."""
        return spec.what.format(count=self.count(spec), bound=sum(self.ping))

    def close(self) -> None:
        """Stop the proxy, if one was started."""
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None

    def run(self, spec: BenchSpec, client: ClientSpec) -> Sample:
        """One run of ``client`` on ``spec``."""
        params: Record = {
            "bench": spec.key,
            "url": self.server.url(),
            "count": self.count(spec),
            "size": spec.size,
            "server_pid": self.server.pid,
        }
        if spec.key == "reconnect":
            return self._reconnect(client, params)
        if spec.key == "dead_peer":
            return self._dead_peer(client, params)
        outcome = run_client(client.module, params, self.timeout)
        sample = Sample(error=outcome.error, wall_s=outcome.wall_s)
        if outcome.result is not None and outcome.value is not None:
            sample.values.append(outcome.value)
            elapsed = float(outcome.result["elapsed_s"])
            if elapsed > 0:
                sample.client_cpu_pct = 100 * float(outcome.result["client_cpu_s"]) / elapsed
                sample.server_cpu_pct = 100 * float(outcome.result["server_cpu_s"]) / elapsed
        return sample

    def _reconnect(self, client: ClientSpec, params: Record) -> Sample:
        restarts: dict[int, Record] = {}
        wanted = int(params["count"])

        def on_event(event: Record) -> None:
            if event.get("name") == "hello" and len(restarts) < wanted:
                reply = self.server.restart(self.downtime)
                restarts[int(reply["instance"])] = reply

        params["url"] = self.server.url("/greet")
        outcome = run_client(client.module, params, self.timeout, on_event)
        sample = _sample_of(outcome)
        for event in outcome.events:
            restart = restarts.get(int(event.get("instance", -1)))
            if event.get("name") == "hello" and restart is not None:
                since = max(float(restart["t_ready"]), float(restart["t_drop"]))
                sample.values.append(1000 * (float(event["t"]) - since))
        if sample.error is None and len(sample.values) != wanted:
            sample.error = f"error: {len(sample.values)} of {wanted} reconnects seen"
        return sample

    def _dead_peer(self, client: ClientSpec, params: Record) -> Sample:
        if self._proxy is None:
            self._proxy = StallProxy(self.server.port)
        proxy = self._proxy
        interval, timeout = self.ping
        stalls: list[float] = []
        reasons: list[str] = []
        samples: list[float] = []

        def on_event(event: Record) -> None:
            name = event.get("name")
            if name == "connected" and len(stalls) < int(params["count"]):
                # Stall at a random phase of the ping cycle: detection spans
                # [ping_timeout, ping_interval + ping_timeout].
                time.sleep(self._rng.uniform(0.0, interval))
                reply = proxy.stall()
                if int(reply["stalled"]) < 1:
                    raise RuntimeError("the proxy had no link to stall")
                stalls.append(float(reply["t_stall"]))
            elif name == "lost" and len(samples) < len(stalls):
                samples.append(1000 * (float(event["t"]) - stalls[-1]))
                reasons.append(str(event.get("reason")))

        params.update(url=proxy.url(), ping_interval=interval, ping_timeout=timeout)
        outcome = run_client(client.module, params, self.timeout, on_event)
        sample = _sample_of(outcome)
        sample.values = samples
        sample.notes = reasons
        if sample.error is None and len(samples) != len(stalls):
            sample.error = f"error: {len(samples)} losses seen for {len(stalls)} stalls"
        return sample


def _sample_of(outcome: Outcome) -> Sample:
    return Sample(error=outcome.error, wall_s=outcome.wall_s)
