"""The ``tether`` command.

::

    tether --version
    tether connect URL [URL ...] [--json] [--wait SECONDS] [--config FILE] ...
    tether demo [--duration SECONDS] [--seed N] [--faults NAME] [--no-replay]
    tether proxy --upstream ws://HOST:PORT [--listen HOST:PORT] [--drop-every S] ...

``main(argv)`` returns the exit status; the ``tether`` script and ``python -m tether``
pass it to ``SystemExit``. Each subcommand lives in its own package or module
(:mod:`.connect`, :mod:`.demo`, :mod:`._proxy`); this one only parses and dispatches.

Exit status: 0 success, 1 gave up / failed, 2 bad arguments or configuration, 3 the
server rejected the handshake (``connect``), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence

__all__ = ["build_parser", "main"]

_DEMO_DESCRIPTION = """\
Run one tether.delivery session (the generic JSON dialect: acknowledgements, resends
after a reconnect, numbered echoes and a resume) against an embedded echo server
behind a ChaosProxy, on 127.0.0.1, while a fault schedule breaks the path: an abrupt
TCP reset, a server Close 1001, a stalled half-open link that only pings detect, a 503
handshake rejection with Retry-After, and an outage with refused connects. On a
terminal, a live view shows the session's state, generation, last ping round trip, the
message counters (what was resent and which duplicates were dropped included), a
timeline of generations and the last events; otherwise (or with --plain) it prints one
line per session event and per fault. Then a summary, and a legend of every field of
the lines and the summary (also below). Exit status 0, or 1 if a message was lost,
repeated or out of order, a gap was seen, or the session failed; 130 on Ctrl-C.
"""

_DEMO_EXAMPLE = """\
example:
  tether demo --duration 10 --seed 7

  schedule: outage@1.38s, drop@5.68s, restart-503@8.48s, going-away@13.28s, stall@16.08s
  (each fires within 0.2 s; the faults' worst-case recoveries stretch the run to 20.9 s
  at most)
  ...
  [  3.235] gen 2   Connected       attempt=5 url=ws://127.0.0.1:42263/
  [  5.683] FAULT   drop: reset 1 proxied TCP connection(s) (RST both ways)
  [  5.684] gen 2   ConnectionLost  reason=transport_error code=1006 detail=...
  [  5.685] gen 2   BackingOff      for gen 3 attempt=1 delay=0.731s error=...
  [  6.417] gen 3   Connecting      attempt=1 url=ws://127.0.0.1:42263/
  [  6.420] gen 3   Connected       attempt=1 url=ws://127.0.0.1:42263/
  ...
  summary
    reconnects:     5 (peer_closed: 2, ping_timeout: 1, transport_error: 2)
    lost:           0
    ...
"""


def _demo_epilog() -> str:
    """The example, then the legend the demo prints after its summary."""
    from .demo.report import legend_lines

    return _DEMO_EXAMPLE + "\n" + "\n".join(legend_lines()) + "\n"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trio-tether")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


_EPILOG = """\
examples:
  tether connect ws://127.0.0.1:8765/
  echo '{"op":"sub"}' | tether connect wss://feed.example/v1 --json --wait 2 | jq .
  tether demo --duration 10 --seed 7
  tether proxy --upstream ws://127.0.0.1:8765 --listen 127.0.0.1:9000 --drop-every 10

exit status:
  0    success (connect: closed normally at end of input)
  1    gave up or failed (connect: --max-attempts/--give-up-after exhausted; demo: a
       message was lost)
  2    bad arguments or configuration (ConfigError)
  3    handshake rejected by the server (connect: HTTP 401, 403, 404 ...)
  130  interrupted (Ctrl-C)

'tether COMMAND --help' describes each command.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tether`` command."""
    from ._proxy import add_parser as add_proxy_parser
    from .connect.options import add_parser as add_connect_parser

    parser = argparse.ArgumentParser(
        prog="tether",
        description="trio-tether: a WebSocket session that survives its connections.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_connect_parser(commands)
    _add_demo(commands)
    add_proxy_parser(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .demo.scenario import SCHEDULES

    demo = commands.add_parser(
        "demo",
        help="watch a session survive a scripted storm of network faults",
        description=_DEMO_DESCRIPTION,
        epilog=_demo_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--duration",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="spread the fault schedule over this many seconds (default: 20); the run "
        "is longer when the faults' worst-case recoveries do not fit",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=1,
        metavar="N",
        help="seed for the schedule's order and timing and the backoff jitter (default: 1)",
    )
    demo.add_argument(
        "--faults",
        choices=sorted(SCHEDULES),
        default="default",
        help="fault schedule: default (all five faults), none, or one fault alone "
        "(default: default)",
    )
    demo.add_argument(
        "--no-replay",
        dest="replay",
        action="store_false",
        help="send without ids the delivery layer tracks: nothing is resent after a "
        "reconnect (shows what a transport alone cannot save)",
    )
    output = demo.add_mutually_exclusive_group()
    output.add_argument(
        "--plain",
        dest="view",
        action="store_const",
        const="plain",
        default="auto",
        help="plain lines (the default when stdout is not a terminal)",
    )
    output.add_argument(
        "--rich", dest="view", action="store_const", const="rich", help="coloured lines"
    )
    output.add_argument(
        "--live",
        dest="view",
        action="store_const",
        const="live",
        help="live view: state, counters, timeline, last events (the default on a terminal)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from .demo.runner import DemoOptions, run

    options = DemoOptions(
        duration=args.duration,
        seed=args.seed,
        faults=args.faults,
        replay=args.replay,
        view=args.view,
    )
    return run(options)


def _run_connect(args: argparse.Namespace) -> int:
    from .connect.runner import run_from_args

    return run_from_args(args)


def _run_proxy(args: argparse.Namespace) -> int:
    from ._proxy import run_from_args

    return run_from_args(args, _subparser(args))


def _subparser(args: argparse.Namespace) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = args.subparser
    return parser


_COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = {
    "connect": _run_connect,
    "demo": _run_demo,
    "proxy": _run_proxy,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C before or after the Trio run
        return 130
