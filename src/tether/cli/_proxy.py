"""``tether proxy``: :class:`tether.testing.ChaosProxy` on a fault schedule.

Forwards every TCP connection accepted on ``--listen`` to ``--upstream`` (WebSocket or
anything else over TCP: the proxy never parses the bytes) and breaks the path on a
timer, so any WebSocket client can be tested against drops, stalls and outages. Each
fault and every change in the connection counts is printed as one line. Loopback
addresses only: a test tool must never relay traffic off the machine.

Fault timers (seconds, each independent, each restarting after its fault ends):

* ``--drop-every S``: every S seconds, reset every proxied connection (TCP RST both
  ways; a WebSocket peer sees close code 1006).
* ``--stall-after S [--stall-for F]``: after S seconds, stop forwarding while keeping
  the TCP connections up (a half-open link only pings detect); after F seconds resume,
  and start over. Without ``--stall-for`` the stall lasts until the proxy stops.
* ``--down-every S --down-for D``: every S seconds, stop listening (connects refused)
  and reset every connection, for D seconds (default 1); then listen again.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import trio

from tether.testing import ChaosProxy, ProxyStats

from ._run import EXIT_INTERRUPTED, run_until_interrupted

__all__ = ["ProxyOptions", "add_parser", "parse_address", "parse_upstream", "run"]

Address = tuple[str, int]

_DESCRIPTION = """\
A loopback TCP proxy that breaks the path on a schedule (tether.testing.ChaosProxy):
put it between any WebSocket client and server to watch how the client copes with
connection resets, half-open stalls and refused connects. Prints each fault and the
connection counts. Runs until Ctrl-C, or for --duration seconds.
"""

_EPILOG = """\
examples:
  tether proxy --listen 127.0.0.1:9000 --upstream ws://127.0.0.1:8765 --drop-every 10
  tether proxy --upstream ws://127.0.0.1:8765 --stall-after 5 --stall-for 30
  tether proxy --upstream 127.0.0.1:8765 --down-every 20 --down-for 3 --duration 60

  then: tether connect ws://127.0.0.1:9000/

fault timers restart after each fault ends: --drop-every S drops every S seconds;
--stall-after S --stall-for F stalls for F seconds after every S seconds of flow (no
--stall-for: stalls once, for good); --down-every S --down-for D is down for D seconds
after every S seconds up. Addresses must be loopback (127.0.0.0/8 or ::1).

exit status: 0 after --duration, 2 bad arguments, 1 cannot listen, 130 Ctrl-C
"""

_LOOPBACK_ALIASES = {"localhost": "127.0.0.1"}


@attrs.frozen(kw_only=True)
class ProxyOptions:
    """What ``tether proxy`` runs. Seconds throughout; ``None`` disables a timer.

    Attributes:
        upstream: ``(host, port)`` to forward to (loopback).
        listen: ``(host, port)`` to listen on (default ``127.0.0.1``, a free port).
        drop_every: reset all connections every this many seconds.
        stall_after: stall after this many seconds of flow.
        stall_for: resume after this many seconds of stall (``None``: never).
        down_every: go down after this many seconds up.
        down_for: seconds each outage lasts (default 1).
        duration: stop after this many seconds (``None``: run until Ctrl-C).
    """

    upstream: Address
    listen: Address = ("127.0.0.1", 0)
    drop_every: float | None = None
    stall_after: float | None = None
    stall_for: float | None = None
    down_every: float | None = None
    down_for: float = 1.0
    duration: float | None = None


# ---------------------------------------------------------------------- arguments


def _loopback_host(host: str) -> str:
    host = _LOOPBACK_ALIASES.get(host.lower(), host)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{host!r} is not a loopback address: use 127.0.0.1 or ::1"
        ) from None
    if not ip.is_loopback:
        raise argparse.ArgumentTypeError(
            f"{host} is not a loopback address: tether proxy only relays on this machine "
            "(127.0.0.0/8 or ::1)"
        )
    return host


def _port(text: str, where: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {where!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535 in {where!r}")
    return port


def parse_address(text: str) -> Address:
    """``HOST:PORT`` or ``[::1]:PORT`` with a loopback host; argparse type."""
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return _loopback_host(host.strip("[]")), _port(port, text)


def parse_upstream(text: str) -> Address:
    """``ws://HOST:PORT[/path]``, ``wss://...`` or ``HOST:PORT`` with a loopback host;
    the default port is 80 (``ws``) or 443 (``wss``); argparse type."""
    if "://" not in text:
        return parse_address(text)
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected ws://HOST:PORT or HOST:PORT, got {text!r}")
    try:
        port = parts.port
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    if port is None:
        port = 443 if parts.scheme == "wss" else 80
    return _loopback_host(parts.hostname), port


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``proxy`` to the ``tether`` command's subparsers."""
    parser = commands.add_parser(
        "proxy",
        help="a loopback chaos proxy: drops, stalls and outages on a schedule",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(subparser=parser)  # for parser.error() on bad combinations
    parser.add_argument(
        "--listen",
        type=parse_address,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where to listen (default: 127.0.0.1 on a free port, printed at start)",
    )
    parser.add_argument(
        "--upstream",
        type=parse_upstream,
        required=True,
        metavar="URL",
        help="server to forward to: ws://HOST:PORT or HOST:PORT",
    )
    seconds: list[tuple[str, str]] = [
        ("--drop-every", "reset every connection every S seconds"),
        ("--stall-after", "stall after S seconds of flow"),
        ("--stall-for", "resume after S seconds of stall (default: never)"),
        ("--down-every", "stop listening and reset after S seconds up"),
        ("--down-for", "each outage lasts S seconds (default: 1)"),
        ("--duration", "stop after S seconds (default: run until Ctrl-C)"),
    ]
    for flag, text in seconds:
        parser.add_argument(flag, type=_positive_seconds, metavar="S", help=text)


def options_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ProxyOptions:
    """Check the combinations argparse cannot (exits 2 through ``parser.error``)."""
    if args.stall_for is not None and args.stall_after is None:
        parser.error("--stall-for needs --stall-after")
    if args.down_for is not None and args.down_every is None:
        parser.error("--down-for needs --down-every")
    return ProxyOptions(
        upstream=args.upstream,
        listen=args.listen,
        drop_every=args.drop_every,
        stall_after=args.stall_after,
        stall_for=args.stall_for,
        down_every=args.down_every,
        down_for=1.0 if args.down_for is None else args.down_for,
        duration=args.duration,
    )


# ------------------------------------------------------------------------ running


class ProxyLog:
    """Timestamped lines on stdout: ``[  1.234] drop: reset 2 connection(s)``."""

    def __init__(self, origin: float, write: Callable[[str], None] | None = None) -> None:
        self._origin = origin
        self._write = write or self._print

    @staticmethod
    def _print(line: str) -> None:
        print(line, flush=True)

    def line(self, text: str) -> None:
        """One line, stamped with the seconds since the proxy started."""
        self._write(f"[{trio.current_time() - self._origin:8.3f}] {text}")


def _counts(stats: ProxyStats) -> str:
    return (
        f"accepted {stats.accepted}, open {stats.open}, dropped {stats.dropped}, "
        f"upstream failures {stats.upstream_failures}"
    )


async def _report_connections(proxy: ChaosProxy, log: ProxyLog) -> None:
    def key(stats: ProxyStats) -> tuple[int, int, int]:
        return (stats.accepted, stats.open, stats.upstream_failures)

    last = key(proxy.statistics())

    def changed(stats: ProxyStats) -> bool:
        return key(stats) != last

    while True:
        stats = await proxy.wait_until(changed)
        last = key(stats)
        log.line(f"connections: {_counts(stats)}")


async def _drop_loop(proxy: ChaosProxy, log: ProxyLog, every: float) -> None:
    while True:
        await trio.sleep(every)
        count = proxy.drop()
        log.line(f"FAULT drop: reset {count} connection(s) (TCP RST both ways)")


async def _stall_loop(
    proxy: ChaosProxy, log: ProxyLog, after: float, duration: float | None
) -> None:
    while True:
        await trio.sleep(after)
        proxy.stall()
        until = "until the proxy stops" if duration is None else f"for {duration:g} s"
        log.line(f"FAULT stall: forwarding stopped {until}; TCP connections stay up")
        if duration is None:
            return
        await trio.sleep(duration)
        proxy.resume()
        log.line("FAULT stall: resumed forwarding")


async def _down_loop(proxy: ChaosProxy, log: ProxyLog, every: float, duration: float) -> None:
    while True:
        await trio.sleep(every)
        proxy.go_down()
        count = proxy.drop()
        log.line(
            f"FAULT down: not listening (connects refused) for {duration:g} s; "
            f"reset {count} connection(s)"
        )
        await trio.sleep(duration)
        proxy.come_back()
        log.line(f"FAULT down: listening again on port {proxy.port}")


def _plan(options: ProxyOptions) -> str:
    faults = []
    if options.drop_every is not None:
        faults.append(f"drop every {options.drop_every:g} s")
    if options.stall_after is not None:
        stall = f"stall after {options.stall_after:g} s"
        if options.stall_for is not None:
            stall += f" for {options.stall_for:g} s"
        faults.append(stall)
    if options.down_every is not None:
        faults.append(f"down every {options.down_every:g} s for {options.down_for:g} s")
    return ", ".join(faults) or "none (a plain relay)"


async def serve(options: ProxyOptions, log: ProxyLog) -> None:
    """Run the proxy and its fault timers until ``options.duration`` (or forever)."""
    async with ChaosProxy(upstream=options.upstream, listen=options.listen) as proxy:
        host, port = proxy.address
        up_host, up_port = options.upstream
        log.line(f"listening on {host}:{port}, forwarding to {up_host}:{up_port}")
        log.line(f"faults: {_plan(options)}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_report_connections, proxy, log)
            if options.drop_every is not None:
                nursery.start_soon(_drop_loop, proxy, log, options.drop_every)
            if options.stall_after is not None:
                nursery.start_soon(_stall_loop, proxy, log, options.stall_after, options.stall_for)
            if options.down_every is not None:
                nursery.start_soon(_down_loop, proxy, log, options.down_every, options.down_for)
            await trio.sleep(math.inf if options.duration is None else options.duration)
            log.line(f"stopping after {options.duration:g} s: {_counts(proxy.statistics())}")
            nursery.cancel_scope.cancel()


async def _serve_status(options: ProxyOptions) -> int:
    log = ProxyLog(trio.current_time())
    try:
        await serve(options, log)
    except OSError as exc:
        host, port = options.listen
        print(
            f"tether proxy: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    return 0


def run(options: ProxyOptions) -> int:
    """``tether proxy`` in a fresh Trio run; the exit status (0 after ``duration``)."""
    result = run_until_interrupted(lambda: _serve_status(options))
    return EXIT_INTERRUPTED if result is None else result


def run_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``tether proxy`` from parsed arguments."""
    return run(options_from_args(args, parser))
