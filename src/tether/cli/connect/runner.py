"""One ``tether connect`` run, from resolved options to exit status: the session
(:func:`tether.connect`, with status lines from ``on_event`` and ``-x`` messages from
``on_connect``), the pump that carries stdin to the session and the session to stdout
until end of input (plus ``--wait``) or the end of the session, and the exit status for
how it ended.

Flow::

    stdin --(.stdin)--> session.send()        (/commands: .commands)
    session --async for--> stdout (.output.Output)
    session --on_event--> stderr status lines (.output.Status)
    -x MESSAGE --on_connect--> every new connection, first

stdin is read from the start, before the session opens: once it has ended with
nothing to send, a server that cannot be reached ends the run after ``--eof-timeout``
(exit 1) instead of being retried for ever.

At end of input (plus ``--wait``) every line has been written; then the pump closes the
session (``aclose()``: flush, Close 1000, wait for the peer's Close) while stdout keeps
printing, so what arrives during the close handshake is printed too, until
``receive()`` says the session is closed. Ctrl-C closes it with Close 1001.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys

import attrs
import trio

import tether

from .._format import describe_error, ending_word, rejection_text
from .._run import EXIT_INTERRUPTED, run_until_interrupted
from .commands import Commands
from .options import ConnectOptions, options_from_args
from .output import Output, Status
from .pings import show_pings
from .stdin import StdinLines, stdin_to_session
from .verbose import configure_logging

__all__ = [
    "EXIT_BAD_ARGUMENTS",
    "EXIT_GAVE_UP",
    "EXIT_OK",
    "EXIT_REJECTED",
    "connect_and_pump",
    "exit_status",
    "run",
    "run_from_args",
]

EXIT_OK = 0
EXIT_GAVE_UP = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_REJECTED = 3

_INSECURE_WARNING = (
    "WARNING: --insecure: TLS certificates and host names are NOT verified. Anyone on "
    "the network path can read and change this session's traffic."
)


def run_from_args(args: argparse.Namespace) -> int:
    """``tether connect``: resolve the options, run the session, return the exit status."""
    status = Status(quiet=args.quiet, events=not args.verbose, timestamps=args.timestamps)
    try:
        options = options_from_args(args)
    except tether.ConfigError as exc:
        status.error(f"ConfigError: {exc}")
        return EXIT_BAD_ARGUMENTS
    return run(options, status)


@attrs.define
class _Pump:
    """stdin to the session and the session to stdout, until end of input (+ wait) and
    the close handshake after it, or the end of the session."""

    session: tether.Session
    options: ConnectOptions
    output: Output
    status: Status
    lines: StdinLines
    commands: Commands | None = None
    failure: tether.TetherError | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, nursery.cancel_scope)
            try:
                await stdin_to_session(
                    self.session,
                    self.lines,
                    self.options,
                    self.status,
                    self.commands,
                    self.output.sent,
                )
                await trio.sleep(self.options.wait)
            except tether.SessionClosed as exc:
                self.failure = self.failure or exc
                nursery.cancel_scope.cancel()
                return
            # End of input: close while _receive prints what still arrives; it ends
            # the nursery once receive() says the session is closed.
            await self.session.aclose()

    async def _receive(self, done: trio.CancelScope) -> None:
        try:
            async for message in self.session:
                self.output.write(message)
        except tether.SessionClosed as exc:
            self.failure = exc
        except BrokenPipeError:
            _silence_stdout()  # the reader of stdout has gone (| head): stop quietly
        done.cancel()  # the session ended (or stdout went): stop reading stdin


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:  # pragma: no cover - a closed descriptor
        return False


def _gave_up_at_eof(options: ConnectOptions) -> str:
    return (
        f"no connection within {options.eof_timeout:g} s and standard input has ended "
        "with nothing to send (--eof-timeout)"
    )


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
    error on stderr: a refused upgrade as :func:`~tether.cli._format.rejection_text`
    says it (``not a WebSocket endpoint: HTTP 404: ...``), otherwise, when quiet (else
    the ``GaveUp`` event's line said it), ``gave up: ...`` if the retry policy gave up
    and ``failed: ...`` for a fatal error."""
    if failure is None:
        return EXIT_OK
    if isinstance(failure, tether.HandshakeRejected):
        status.error(rejection_text(failure))
        return EXIT_REJECTED
    if isinstance(failure, tether.ConfigError):
        status.error(f"ConfigError: {failure}")
        return EXIT_BAD_ARGUMENTS
    if status.quiet:  # otherwise the GaveUp event has said it
        cause = getattr(failure, "last_error", None) or failure.__cause__ or failure
        status.error(f"{ending_word(status.gave_up)}: {describe_error(cause)}")
    return EXIT_GAVE_UP


async def connect_and_pump(options: ConnectOptions, status: Status, output: Output) -> int:
    """Run one session until it ends; return the exit status (never raises a tether
    error)."""
    failure: tether.TetherError | None = None
    wants_commands = options.commands
    if wants_commands is None:
        wants_commands = _isatty(options.stdin_fd)

    def erase(line: bytes) -> None:
        # A command line stays on screen (its result follows); a message line is
        # shown again as "> ..." once sent.
        if not (wants_commands and line.startswith(b"/") and not line.startswith(b"//")):
            output.erase_typed()

    lines = StdinLines.open(options.stdin_fd, on_line=erase)
    commands: Commands | None = None
    latest: list[tether.Connection] = []  # the last on_connect handle, for /ping
    connected = trio.Event()

    async def on_connect(connection: tether.Connection) -> None:
        latest[:] = [connection]
        if commands is not None:
            commands.connection = connection
        for message in options.execute:
            await connection.send(message)
            output.sent(message)

    async def give_up_at_eof(scope: trio.CancelScope) -> None:
        """Cancel the opening once stdin ended with nothing to send and no connection
        opened within ``eof_timeout`` of that."""
        await lines.ended.wait()
        with trio.move_on_after(options.eof_timeout or 0):
            await connected.wait()
            return
        if lines.nothing_to_send and not connected.is_set():
            scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lines.read)
        with trio.CancelScope() as opening:
            if options.eof_timeout is not None:
                nursery.start_soon(give_up_at_eof, opening)
            try:
                async with tether.connect(
                    options.urls,
                    config=options.config,
                    headers=dict(options.headers) or None,
                    subprotocols=options.subprotocols,
                    user_agent=options.user_agent,
                    origin=options.origin,
                    ssl_context=_ssl_context(options.insecure),
                    unix_socket=options.unix_socket,
                    proxy=options.proxy,
                    on_event=status.event,
                    on_connect=on_connect,
                ) as session:
                    connected.set()
                    if wants_commands:
                        note = output.note if output.markers else status.note
                        commands = Commands(session, note, latest[0] if latest else None)
                    pump = _Pump(session, options, output, status, lines, commands)
                    await pump.run()
                    failure = pump.failure
            except tether.TetherError as exc:
                failure = exc
        nursery.cancel_scope.cancel()
    if opening.cancelled_caught:
        status.error(f"gave up: {_gave_up_at_eof(options)}")
        return EXIT_GAVE_UP
    return exit_status(failure, status)


def run(options: ConnectOptions, status: Status | None = None) -> int:
    """``tether connect`` with resolved options, in a fresh Trio run; the exit status."""
    status = status or Status(
        quiet=options.quiet, events=not options.verbose, timestamps=options.timestamps
    )
    if options.insecure:
        status.warn(_INSECURE_WARNING)
    output = Output(
        json=options.json,
        binary_format=options.input_format,
        erase_echo=_isatty(options.stdin_fd),
        timestamps=options.timestamps,
    )
    levels = {name: logging.getLogger(name).level for name in ("tether", "tether.protocol")}
    handlers = [
        handler
        for handler in (
            configure_logging(options.verbose, timestamps=options.timestamps),
            show_pings(output.note if output.markers else status.note)
            if options.show_ping
            else None,
        )
        if handler is not None
    ]

    def interrupted() -> None:
        status.warn("interrupted: closing the session (Ctrl-C again to quit at once)")

    try:
        result = run_until_interrupted(
            lambda: connect_and_pump(options, status, output), interrupted
        )
    finally:
        for name, level in levels.items():  # the loggers as they were (an in-process run)
            logger = logging.getLogger(name)
            logger.setLevel(level)
            for handler in handlers:
                logger.removeHandler(handler)
    return EXIT_INTERRUPTED if result is None else result
