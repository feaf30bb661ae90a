"""One ``tether connect`` run, from resolved options to exit status: the session
(:func:`tether.connect`, with status lines from ``on_event``), the pump that carries
stdin to the session and the session to stdout until end of input (plus ``--wait``) or
the end of the session, and the exit status for how it ended.

Flow::

    stdin --(.stdin)--> session.send()
    session --async for--> stdout (.output.Output)
    session --on_event--> stderr status lines (.output.Status)

At end of input (plus ``--wait``) every line has been written; then the pump closes the
session (``aclose()``: flush, Close 1000, wait for the peer's Close) while stdout keeps
printing, so what arrives during the close handshake is printed too, until
``receive()`` says the session is closed. Ctrl-C closes it with Close 1001.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys

import attrs
import trio

import tether

from .._format import describe_error, ending_word, rejection_text
from .._run import EXIT_INTERRUPTED, run_until_interrupted
from .options import ConnectOptions, options_from_args
from .output import Output, Status
from .stdin import stdin_to_session

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
    status = Status(quiet=args.quiet)
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
    failure: tether.TetherError | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, nursery.cancel_scope)
            try:
                await stdin_to_session(self.session, self.options, self.status)
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
