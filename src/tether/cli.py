"""The ``tether`` command.

::

    tether --version
    tether demo [--duration SECONDS] [--seed N] [--faults NAME] [--no-replay]

``main(argv)`` returns the exit status; the ``tether`` script and ``python -m tether``
pass it to ``SystemExit``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

_DEMO_DESCRIPTION = """\
Run one tether session against an embedded echo server behind a ChaosProxy, on
127.0.0.1, while a fault schedule breaks the path: an abrupt TCP reset, a server Close
1001, a stalled half-open link that only pings detect, a 503 handshake rejection with
Retry-After, and an outage with refused connects. Prints one line per session event and
per fault, then a summary. Exit status 0, or 1 if a message was lost or the session
failed.
"""

_DEMO_EPILOG = """\
example:
  tether demo --duration 10 --seed 7

  [  1.561] FAULT   drop: reset 1 proxied TCP connection(s) (RST both ways)
  [  1.562] gen 1   ConnectionLost  reason=transport_error code=1006 detail=...
  [  1.562] gen 2   Connecting      attempt=1 url=ws://127.0.0.1:40123/
  [  1.565] gen 2   Connected       attempt=1 url=ws://127.0.0.1:40123/
  ...
  summary
    reconnects:     5 (peer_closed: 2, ping_timeout: 1, transport_error: 2)
    lost:           0
"""


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tether`` command."""
    parser = argparse.ArgumentParser(
        prog="tether", description="trio-tether: a WebSocket session that survives its connections."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ._demo import SCHEDULES

    demo = commands.add_parser(
        "demo",
        help="watch a session survive a scripted storm of network faults",
        description=_DEMO_DESCRIPTION,
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--duration",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="spread the fault schedule over this many seconds (default: 20)",
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
        help="fault schedule (default: default)",
    )
    demo.add_argument(
        "--no-replay",
        dest="replay",
        action="store_false",
        help="do not replay unacknowledged messages after a reconnect (shows what a "
        "transport alone cannot save)",
    )
    output = demo.add_mutually_exclusive_group()
    output.add_argument(
        "--plain", dest="rich", action="store_false", default=None, help="plain lines"
    )
    output.add_argument("--rich", dest="rich", action="store_true", help="colours (needs rich)")


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import DemoOptions, run

    options = DemoOptions(
        duration=args.duration,
        seed=args.seed,
        faults=args.faults,
        replay=args.replay,
        rich=args.rich,
    )
    return run(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _run_demo(args)
    except KeyboardInterrupt:
        return 130
