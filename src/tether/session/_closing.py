"""The close path: a close request and its deadline, forcing it, and closing each
generation's connection the way its outcome calls for (RFC 6455 section 7)."""

from __future__ import annotations

import contextlib
import math

import trio

from ..config import Config
from ..connection import ClientConnection, ConnectionClosed
from ..events import LostReason
from ..protocol import fit_close_reason
from ..state import State
from ._buffers import SendBuffer
from ._generation import CloseRequest, Generation, GenerationSlot, UserClose
from ._lifecycle import Lifecycle

__all__ = ["GOING_AWAY", "INTERNAL_ERROR", "Closer"]

#: Close codes tether sends on its own (RFC 6455 section 7.4.1): the client is leaving
#: (cancelled, interrupted) / the application failed (an error in the session's body).
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
#: After the close deadline passed before a Close frame went out: the time still given
#: to writing it, seconds.
LAST_WORD_TIMEOUT = 1.0


class Closer:
    """Holds the session's close request and closes connections.

    :attr:`request` is ``None`` until ``aclose()`` or ``connect()``'s exit asks;
    :attr:`code_sent` is the code of the last Close frame tether sent (``Closed.code``).
    """

    __slots__ = (
        "_close_timeout",
        "_lifecycle",
        "_send_buffer",
        "_slot",
        "_supersede_close_code",
        "code_sent",
        "request",
    )

    def __init__(
        self, config: Config, lifecycle: Lifecycle, send_buffer: SendBuffer, slot: GenerationSlot
    ) -> None:
        self._close_timeout = config.close_timeout
        self._supersede_close_code = config.supersede_close_code
        self._lifecycle = lifecycle
        self._send_buffer = send_buffer
        self._slot = slot
        self.request: CloseRequest | None = None
        self.code_sent: int | None = None

    def _deadline(self) -> float:
        timeout = self._close_timeout
        return trio.current_time() + (math.inf if timeout is None else timeout)

    def request_close(self, code: int, reason: str, *, flush: bool) -> CloseRequest:
        """Ask the session to close (the first request wins; later ones get it back).
        With ``flush``, buffered messages are written first, until the deadline."""
        if self.request is not None:
            return self.request
        request = CloseRequest(code, fit_close_reason(reason), flush, self._deadline())
        self.request = request
        lifecycle = self._lifecycle
        if lifecycle.finished:
            return request
        lifecycle.set_state(State.CLOSING)  # also wakes the open generation's serve()
        waits_for_flush = flush and bool(self._send_buffer)
        active = self._slot.active
        if active is not None and not active.opened and not waits_for_flush:
            active.end(UserClose(request))
        if active is None and not waits_for_flush:
            self._slot.cut_sleep()
        return request

    def force(self) -> None:
        """Stop waiting for the flush: end the generation (or backoff) now."""
        request = self.request
        assert request is not None
        request.forced = True
        if self._slot.active is not None:
            self._slot.active.end(UserClose(request))
        self._slot.cut_sleep()

    def closing_now(self) -> bool:
        """A close was requested and nothing is left to flush first."""
        request = self.request
        return request is not None and (request.forced or not (request.flush and self._send_buffer))

    async def close_open_generation(self, generation: Generation, ws: ClientConnection) -> None:
        """The open generation ends by the user's close: send the Close frame and let the
        reader take in what the peer sent before its own Close (RFC 6455 section 5.5.1),
        so those messages are delivered, not discarded. Bounded by the close deadline."""
        outcome = generation.outcome
        if isinstance(outcome, UserClose) and not generation.write_interrupted:
            request = outcome.request
            with trio.move_on_at(request.deadline):
                with contextlib.suppress(ConnectionClosed):
                    await ws.start_close(request.code, request.reason)
                self.code_sent = request.code
                await ws.wait_ended()

    async def teardown(self, generation: Generation) -> None:
        """Close the generation's connection the way its outcome calls for, then its
        stream. Runs shielded; every wait is bounded by ``close_timeout``."""
        ws, stream, outcome = generation.ws, generation.stream, generation.outcome
        deadline = self._deadline()
        if ws is not None and not generation.opened:
            # Ended during on_connect: what arrived for it is dropped, so that the reader,
            # which may be waiting for on_connect to take a message, reads on to the
            # server's Close.
            ws.detach()
        if ws is not None and stream is not None and not ws.ended:
            if generation.write_interrupted:
                pass  # a frame was cut off mid-write: the stream is garbage, just abort
            elif isinstance(outcome, UserClose):
                request = outcome.request
                await _close_handshake(
                    ws, request.code, request.reason, max(request.deadline, trio.current_time())
                )
                self.code_sent = request.code
            elif outcome is None:
                # Cancelled from outside: the reader is cancelled too, so send the Close
                # frame and do not wait for the reply.
                with trio.move_on_at(deadline), contextlib.suppress(ConnectionClosed):
                    await ws.start_close(GOING_AWAY, "going away")
                self.code_sent = GOING_AWAY
            elif outcome.reason in (LostReason.SUPERSEDED, LostReason.IDLE_TIMEOUT):
                # Replaced by the session: reconnect(code=...), else the configured code
                # (a resumable session wants a code its server does not take as the end).
                code = generation.close_code
                if code is None:
                    code = self._supersede_close_code
                await _close_handshake(ws, code, fit_close_reason(outcome.detail), deadline)
        if ws is not None:
            ws.detach()
        if stream is not None:
            await trio.aclose_forcefully(stream)


async def _close_handshake(ws: ClientConnection, code: int, reason: str, deadline: float) -> None:
    """Close and wait for the peer's Close until ``deadline``; out of time before the
    frame went out, still tell the peer, briefly."""
    with trio.move_on_at(deadline):
        await ws.aclose(code, reason)
    with trio.move_on_after(LAST_WORD_TIMEOUT), contextlib.suppress(ConnectionClosed):
        await ws.start_close(code, reason)
