"""``tether connect``: an interactive WebSocket client that survives its connections.

Lines read from stdin are sent as messages (text; ``--binary`` decodes each line from
hex or base64 and sends a binary message); every message received is written to stdout,
one per line; session events go to stderr as one status line each. One
:func:`tether.connect` session carries it all, so the client reconnects by itself, and
lines read while no connection is open wait for the next one and go out in order.

Flow::

    stdin --os.read in a worker thread--> lines channel --> session.send()   (in order)
    session --async for--> stdout (plain, or JSON: compact when piped, rich on a TTY)
    session --on_event--> stderr status lines

stdin is read with ``os.read`` in a Trio worker thread, never blocking the event loop:
it works the same for a pipe, a file and a terminal, and it takes no lock a thread
abandoned at exit could hold. A line is handed to ``session.send_nowait()`` while more
lines are already queued behind it and to ``await session.send()`` otherwise, so the
last line read is on the wire before the next read, and at end of input every line has
been written before the session closes (``aclose()``: Close 1000).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import attrs
import trio

import tether

from ..events import Event
from ._format import EVENT_STYLES, describe_error, status_line
from ._run import EXIT_INTERRUPTED, run_until_interrupted

__all__ = [
    "EXIT_BAD_ARGUMENTS",
    "EXIT_GAVE_UP",
    "EXIT_OK",
    "EXIT_REJECTED",
    "ConnectOptions",
    "add_parser",
    "decode_line",
    "exit_status",
    "run",
]

EXIT_OK = 0
EXIT_GAVE_UP = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_REJECTED = 3

#: Bytes asked of ``os.read`` at a time.
_READ_SIZE = 65536
#: Lines read ahead of the one being sent (the session's send buffer comes after).
_LINE_QUEUE = 64

_INSECURE_WARNING = (
    "WARNING: --insecure: TLS certificates and host names are NOT verified. Anyone on "
    "the network path can read and change this session's traffic."
)

_DESCRIPTION = """\
Connect to a WebSocket server and keep the session alive across disconnects: lines read
from stdin are sent as messages, received messages are written to stdout (one per line),
and connection events go to stderr. Lines read while disconnected are sent, in order,
after the next connect. At end of input every line is sent, then the session closes
(Close 1000); --wait keeps receiving for a while first. Ctrl-C closes with Close 1001.
"""

_EPILOG = """\
examples:
  tether connect ws://127.0.0.1:8765/
  echo '{"op":"sub"}' | tether connect wss://feed.example/v1 --json --wait 2 | jq .
  tether connect ws://a.example/ ws://b.example/ -H "Authorization: Bearer $TOKEN"
  tether connect --config bot.toml --max-attempts 5

exit status:
  0    closed normally (end of input)
  1    gave up: --max-attempts or --give-up-after exhausted, or a fatal error
  2    bad arguments or configuration (ConfigError)
  3    handshake rejected by the server (HTTP 401, 403, 404 ...)
  130  interrupted (Ctrl-C)

configuration file (--config, TOML): Config fields at the top level, a [backoff] table,
and an optional [connect] table; command-line options override the file:

  ping_interval = 10        # seconds; false disables
  idle_timeout = 60
  max_attempts = 8
  overflow = "block"        # or "drop_oldest", "raise"
  [backoff]
  initial = 0.5
  maximum = 20
  [connect]
  url = ["wss://a.example/v1", "wss://b.example/v1"]   # or one string
  headers = { Authorization = "Bearer abc" }
  subprotocols = ["v1.feed"]
"""

#: Command-line options that set a ``Config`` field: (flag, field, kind, help).
_CONFIG_OPTIONS: Sequence[tuple[str, str, str, str]] = (
    ("--ping-interval", "ping_interval", "seconds", "seconds between pings (default 20)"),
    ("--ping-timeout", "ping_timeout", "seconds", "a pong must arrive within (default 20)"),
    ("--idle-timeout", "idle_timeout", "seconds", "reconnect after no message for (default off)"),
    ("--connect-timeout", "connect_timeout", "seconds", "bound on one attempt (default 10)"),
    ("--close-timeout", "close_timeout", "seconds", "bound on the closing handshake (default 5)"),
    (
        "--give-up-after",
        "give_up_after",
        "seconds",
        "give up after disconnected for (default never)",
    ),
    (
        "--max-attempts",
        "max_attempts",
        "count",
        "give up after attempts per outage (default unlimited)",
    ),
    (
        "--send-buffer",
        "send_buffer",
        "count",
        "messages buffered while disconnected (default 1024)",
    ),
)


@attrs.frozen(kw_only=True)
class ConnectOptions:
    """Everything ``tether connect`` runs with, resolved from arguments and ``--config``.

    Attributes:
        urls: URLs tried in order within each outage.
        config: the session's :class:`tether.Config`.
        headers: extra handshake headers.
        subprotocols: ``Sec-WebSocket-Protocol`` values offered.
        insecure: TLS without certificate verification (default ``False``).
        json: JSON output (default ``False``).
        binary: stdin lines are hex/base64 and sent as binary messages (default ``False``).
        input_format: ``"hex"`` (default) or ``"base64"``: how ``--binary`` lines are
            decoded, and how received binary messages are printed.
        wait: seconds to keep receiving after end of input (default 0).
        quiet: no status lines on stderr, only warnings and errors (default ``False``).
        stdin_fd: file descriptor lines are read from (default 0).
    """

    urls: tuple[str, ...]
    config: tether.Config = attrs.field(factory=tether.Config)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    subprotocols: tuple[str, ...] = ()
    insecure: bool = False
    json: bool = False
    binary: bool = False
    input_format: str = "hex"
    wait: float = 0.0
    quiet: bool = False
    stdin_fd: int = 0


# ---------------------------------------------------------------------- arguments


def _seconds_or_off(text: str) -> float | None:
    if text.lower() in ("off", "none", "false"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds (or off): {text!r}") from None


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds: {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name, value.strip()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``connect`` to the ``tether`` command's subparsers."""
    parser = commands.add_parser(
        "connect",
        help="an interactive client that reconnects by itself",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "urls", nargs="*", metavar="URL", help="ws:// or wss:// URL(s), failover order"
    )
    output = parser.add_argument_group("input and output")
    output.add_argument(
        "--json",
        action="store_true",
        help="JSON output: compact, one valid JSON value per line when stdout is not a "
        "terminal (pipe it to jq); pretty and coloured on a terminal; non-JSON messages "
        "are printed as JSON strings",
    )
    output.add_argument(
        "--binary", action="store_true", help="send each stdin line as a binary message"
    )
    output.add_argument(
        "--input-format",
        choices=("hex", "base64"),
        default="hex",
        help="encoding of --binary lines and of received binary messages (default: hex)",
    )
    output.add_argument(
        "--wait",
        type=_wait_seconds,
        default=0.0,
        metavar="SECONDS",
        help="after end of input, keep receiving this long before closing (default: 0)",
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no status lines on stderr")
    handshake = parser.add_argument_group("handshake")
    handshake.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra handshake header (repeatable)",
    )
    handshake.add_argument(
        "--subprotocol",
        dest="subprotocols",
        action="append",
        default=[],
        metavar="NAME",
        help="subprotocol to offer (repeatable, in preference order)",
    )
    handshake.add_argument(
        "--insecure",
        action="store_true",
        help="wss:// without verifying the server's certificate (dangerous; warns loudly)",
    )
    _add_config_options(parser)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "session", "seconds are decimal numbers; 'off' disables a timer or limit"
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file: Config fields, [backoff] and [connect] tables (see below)",
    )
    for flag, field, kind, text in _CONFIG_OPTIONS:
        group.add_argument(
            flag,
            dest=f"config_{field}",
            type=_seconds_or_off if kind == "seconds" else _count,
            default=argparse.SUPPRESS,
            metavar="SECONDS" if kind == "seconds" else "N",
            help=text,
        )


def options_from_args(args: argparse.Namespace) -> ConnectOptions:
    """Resolve arguments and ``--config`` into :class:`ConnectOptions`. Raises
    :class:`tether.ConfigError` for a bad file, a bad value or no URL."""
    from ._config_file import ConnectSettings, read_connect_file

    document: dict[str, Any] = {}
    settings = ConnectSettings()
    if args.config is not None:
        document, settings = read_connect_file(args.config)
    overrides = {
        field: getattr(args, f"config_{field}")
        for _, field, _, _ in _CONFIG_OPTIONS
        if hasattr(args, f"config_{field}")
    }
    config = tether.Config.from_mapping({**document, **overrides})
    urls = tuple(args.urls) or settings.url
    if not urls:
        raise tether.ConfigError("no URL: give one, or url in the [connect] table of --config")
    return ConnectOptions(
        urls=urls,
        config=config,
        headers={**settings.headers, **dict(args.headers)},
        subprotocols=tuple(args.subprotocols) or settings.subprotocols,
        insecure=args.insecure,
        json=args.json,
        binary=args.binary,
        input_format=args.input_format,
        wait=args.wait,
        quiet=args.quiet,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """``tether connect``: resolve the options, run the session, return the exit status."""
    status = Status(quiet=args.quiet)
    try:
        options = options_from_args(args)
    except tether.ConfigError as exc:
        status.error(f"ConfigError: {exc}")
        return EXIT_BAD_ARGUMENTS
    return run(options, status)


# -------------------------------------------------------------------------- output


def _rich_console(stream: IO[str]) -> Any:
    """A rich Console on ``stream`` if it is a terminal and rich is installed."""
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover - rich is an optional dependency
        return None
    return Console(file=stream, highlight=False, soft_wrap=True)


class Status:
    """Status lines on stderr, ``tether: ...``: events (unless ``quiet``), warnings and
    errors. Coloured with rich when stderr is a terminal."""

    _STYLES: Mapping[str, str] = {
        **EVENT_STYLES,
        "warning": "bold red",
        "error": "bold red",
    }

    def __init__(self, *, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self.quiet = quiet
        self._console = _rich_console(self._stream)

    def event(self, event: Event) -> None:
        """A session event (the ``on_event`` callback)."""
        if not self.quiet:
            self._line(status_line(event), type(event).__name__)

    def warn(self, text: str) -> None:
        """A warning, printed even when quiet."""
        self._line(text, "warning")

    def error(self, text: str) -> None:
        """An error, printed even when quiet."""
        self._line(text, "error")

    def _line(self, text: str, kind: str) -> None:
        line = f"tether: {text}"
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text(line, style=self._STYLES.get(kind, "")))
            return
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(line + "\n")
            self._stream.flush()


class Output:
    """Received messages on stdout, one per line (pretty JSON spans several on a TTY).

    ``json``: each message is parsed as JSON and printed compact (``separators=(",",
    ":")``, one valid JSON value per line) when stdout is not a terminal, indented and
    coloured with rich when it is; a message that is not JSON is printed as a JSON
    string. Binary messages are printed in ``binary_format`` (``"hex"`` or
    ``"base64"``). Raises ``BrokenPipeError`` when the reader of stdout has gone.
    """

    def __init__(
        self, *, json: bool = False, binary_format: str = "hex", stream: IO[str] | None = None
    ) -> None:
        self._stream = stream or sys.stdout
        self._json = json
        self._binary_format = binary_format
        self._console = _rich_console(self._stream) if json else None

    def write(self, message: str | bytes) -> None:
        """Print one received message."""
        if not self._json:
            self._write_line(self._text(message))
            return
        try:
            data = json.loads(message)
        except ValueError:
            data = self._text(message)
        if self._console is not None:
            self._console.print_json(data=data)
        elif self._stream.isatty():
            self._write_line(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self._write_line(json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    def _text(self, message: str | bytes) -> str:
        if isinstance(message, str):
            return message
        if self._binary_format == "base64":
            return base64.b64encode(message).decode("ascii")
        return message.hex()

    def _write_line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


# --------------------------------------------------------------------------- input


def decode_line(
    raw: bytes, *, binary: bool = False, input_format: str = "hex"
) -> str | bytes | None:
    """The message for one stdin line (without its newline), or ``None`` for a blank
    line (skipped). Text lines are UTF-8 (invalid bytes become U+FFFD); ``binary`` lines
    are hex (spaces allowed) or base64. Raises ``ValueError`` for a bad binary line."""
    raw = raw.rstrip(b"\r")
    if not raw.strip():
        return None
    if not binary:
        return raw.decode("utf-8", errors="replace")
    if input_format == "base64":
        try:
            return base64.b64decode(raw.strip(), validate=True)
        except binascii.Error:
            raise ValueError("not valid base64") from None
    try:
        return bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("not valid hex") from None


async def read_lines(fd: int, channel: trio.MemorySendChannel[bytes]) -> None:
    """Send each line of ``fd`` (without ``\\n``) to ``channel``; close it at end of
    input. Reads with ``os.read`` in a worker thread (abandoned if cancelled)."""
    pending = b""
    async with channel:
        while True:
            try:
                chunk = await trio.to_thread.run_sync(
                    os.read, fd, _READ_SIZE, abandon_on_cancel=True
                )
            except OSError:
                chunk = b""  # the terminal went away: treat as end of input
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                await channel.send(line)
        if pending:
            await channel.send(pending)


async def _send(session: tether.Session, message: str | bytes, more: bool, status: Status) -> None:
    if more:
        try:
            session.send_nowait(message)
            return
        except trio.WouldBlock:
            pass  # the buffer is full: wait for room below
    try:
        await session.send(message)
    except tether.SendBufferFull:
        status.warn("send buffer full (overflow = raise): a line was not sent")
    except tether.MessageDropped:
        status.warn("a line was evicted from the full send buffer (overflow = drop_oldest)")


async def send_lines(
    session: tether.Session,
    lines: trio.MemoryReceiveChannel[bytes],
    decode: Callable[[bytes], str | bytes | None],
    status: Status,
) -> None:
    """Send every line from ``lines``, in order, until the channel ends. Returns once the
    last one was written. Raises :class:`tether.SessionClosed` if the session ends."""
    async with lines:
        number = 0
        async for raw in lines:
            number += 1
            try:
                message = decode(raw)
            except ValueError as exc:
                status.warn(f"line {number} skipped: {exc}")
                continue
            if message is not None:
                more = lines.statistics().current_buffer_used > 0
                await _send(session, message, more, status)


async def _stdin_to_session(
    session: tether.Session, options: ConnectOptions, status: Status
) -> None:
    def decode(raw: bytes) -> str | bytes | None:
        return decode_line(raw, binary=options.binary, input_format=options.input_format)

    send_channel, receive_channel = trio.open_memory_channel[bytes](_LINE_QUEUE)
    failure: tether.SessionClosed | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_lines, options.stdin_fd, send_channel)
        try:
            await send_lines(session, receive_channel, decode, status)
        except tether.SessionClosed as exc:
            failure = exc
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure


# ------------------------------------------------------------------------- session


@attrs.define
class _Pump:
    """stdin to the session and the session to stdout, until end of input (+ wait) or
    the end of the session."""

    session: tether.Session
    options: ConnectOptions
    output: Output
    status: Status
    failure: tether.TetherError | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, nursery.cancel_scope)
            try:
                await _stdin_to_session(self.session, self.options, self.status)
                await trio.sleep(self.options.wait)
            except tether.SessionClosed as exc:
                self.failure = self.failure or exc
            nursery.cancel_scope.cancel()

    async def _receive(self, done: trio.CancelScope) -> None:
        try:
            async for message in self.session:
                self.output.write(message)
        except tether.SessionClosed as exc:
            self.failure = exc
        except BrokenPipeError:
            _silence_stdout()  # the reader of stdout has gone (| head): stop quietly
        done.cancel()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's final flush does not fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _ssl_context(insecure: bool) -> ssl.SSLContext | None:
    if not insecure:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def exit_status(failure: BaseException | None, status: Status) -> int:
    """The exit status for how the session ended (``None``: closed normally); prints the
    error on stderr."""
    if failure is None:
        return EXIT_OK
    if isinstance(failure, tether.HandshakeRejected):
        body = failure.body[:200].decode("utf-8", errors="replace").strip()
        status.error(
            f"handshake rejected: HTTP {failure.status_code}" + (f": {body}" if body else "")
        )
        return EXIT_REJECTED
    if isinstance(failure, tether.ConfigError):
        status.error(f"ConfigError: {failure}")
        return EXIT_BAD_ARGUMENTS
    if status.quiet:  # otherwise the GaveUp event has said it
        cause = getattr(failure, "last_error", None) or failure.__cause__ or failure
        status.error(f"gave up: {describe_error(cause)}")
    return EXIT_GAVE_UP


async def connect_and_pump(options: ConnectOptions, status: Status, output: Output) -> int:
    """Run one session until it ends; return the exit status (never raises a tether
    error)."""
    failure: tether.TetherError | None = None
    try:
        async with tether.connect(
            options.urls,
            config=options.config,
            headers=dict(options.headers) or None,
            subprotocols=options.subprotocols,
            ssl_context=_ssl_context(options.insecure),
            on_event=status.event,
        ) as session:
            pump = _Pump(session, options, output, status)
            await pump.run()
            failure = pump.failure
    except tether.TetherError as exc:
        failure = exc
    return exit_status(failure, status)


def run(options: ConnectOptions, status: Status | None = None) -> int:
    """``tether connect`` with resolved options, in a fresh Trio run; the exit status."""
    status = status or Status(quiet=options.quiet)
    if options.insecure:
        status.warn(_INSECURE_WARNING)
    output = Output(json=options.json, binary_format=options.input_format)

    def interrupted() -> None:
        status.warn("interrupted: closing the session (Ctrl-C again to quit at once)")

    result = run_until_interrupted(lambda: connect_and_pump(options, status, output), interrupted)
    return EXIT_INTERRUPTED if result is None else result
