"""The handle ``on_connect`` receives: one generation's connection, before traffic flows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from ..connection import ClientConnection, ConnectionClosed, lost_error
from ..policy import TokenBucket
from ..protocol import Accepted
from ._counters import Counters

__all__ = ["Connection", "round_trip"]


class Connection:
    """One open connection, handed to ``on_connect(conn)`` at the start of a generation.

    While ``on_connect`` runs it has the connection to itself: no buffered send has been
    flushed, and what the server sends is held for it (up to 64 messages and
    ``Config.receive_buffer_bytes`` of them; then the connection's reader stops
    reading), so ``receive()`` here reads the server's next
    message (an auth reply, a subscription ack) and the session sees only what
    ``on_connect`` left. ``send()`` writes at once, ahead of everything buffered.
    ``receive()`` raises ``RuntimeError`` once ``on_connect`` has returned. What it sends
    and receives counts in ``Session.statistics()`` (``messages_sent``,
    ``messages_received``) like any other message.

    Attributes:
        generation: the number this connection will have once open (1, 2, ...).
        url: the URL it connected to (one of the failover list), redacted as in events
            (userinfo as ``***@``, credential-like query values as ``***``; see
            :func:`tether.policy.redact_url`); what was requested is unchanged.
        attempt: the attempt of this outage that succeeded (from 1).
        subprotocol: the subprotocol the server chose, or ``None``.
        handshake_headers: the server's handshake response headers, lower-cased names.
        last_message_at: ``trio.current_time()`` of the last message the session received
            on any earlier generation, or ``None``: resume from here (failure F11).
        messages_received: messages the session received on earlier generations.

    ``send``/``receive`` raise :class:`tether.ConnectionLostError` if the connection
    drops; letting it propagate out of ``on_connect`` makes the session retry. Any
    other exception out of ``on_connect`` (the application's own, or the codec's) is
    wrapped in :class:`tether.ApplicationError` and by default ends the session.
    """

    def __init__(
        self,
        ws: ClientConnection,
        accepted: Accepted,
        *,
        generation: int,
        url: str,
        attempt: int,
        last_message_at: float | None,
        messages_received: int,
        encode: Callable[[Any], str | bytes],
        decode: Callable[[str | bytes], Any],
        counters: Counters,
        pacer: TokenBucket | None = None,
    ) -> None:
        self._ws = ws
        self._pacer = pacer
        self._counters = counters
        self._encode = encode
        self._decode = decode
        self.generation = generation
        self.url = url
        self.attempt = attempt
        self.last_message_at = last_message_at
        self.messages_received = messages_received
        self.subprotocol: str | None = accepted.subprotocol
        self.handshake_headers: Mapping[str, str] = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in accepted.headers
        }

    async def send(self, message: Any) -> None:
        """Write ``message`` (through the session's codec) on this connection now,
        ahead of the session's buffered sends; returns once it is written. Usable for
        as long as this connection is open, after ``on_connect`` too (a message that
        must never go to a later connection; ``tether.delivery`` sends its heartbeats
        this way); its writes take turns with the session's, message by message. Under
        ``Config.send_rate`` it first waits for its turn in the session's bucket (a
        cancelled wait leaves that turn unused).

        Raises :class:`tether.ConnectionLostError` if the connection ends first (or has
        ended): nothing is buffered or resent. Cancellation: a message not yet started
        is not sent; one cut off mid-write ends the connection (a partial frame cannot be
        taken back)."""
        pacer = self._pacer
        if pacer is not None:
            now = trio.current_time()
            at = pacer.reserve(now)
            if at > now:
                await trio.sleep_until(at)
        try:
            await self._ws.send((self._encode(message),))
        except ConnectionClosed:
            raise lost_error(self._ws) from None
        self._counters.messages_sent += 1

    async def ping(self) -> float:
        """Send a Ping (RFC 6455 section 5.5.2) on this connection and wait for its Pong;
        returns the round trip in seconds on Trio's clock. Usable after ``on_connect``
        has returned, for as long as this connection is open (keep the handle to ping
        from elsewhere). Not bounded by itself: wrap it in ``trio.move_on_after``.

        Raises :class:`tether.ConnectionLostError` if the connection ends first (or has
        ended). Cancellation: the Pong, if it comes, is taken by the reader as usual."""
        return await round_trip(self._ws)

    async def receive(self) -> Any:
        """The server's next message on this connection (decoded by the codec); waits
        for it, with no timeout of its own beyond ``connect_timeout``, which bounds the
        whole of ``on_connect``.

        Only while ``on_connect`` runs: afterwards messages go to ``Session.receive()``
        and this raises ``RuntimeError``. Raises :class:`tether.ConnectionLostError` if
        the connection ends first, :class:`tether.DecodeError` if the codec rejects the
        message. Cancellation: no message is lost; the next call (or the session, once
        ``on_connect`` returns) gets it."""
        raw = await self._ws.receive()
        self._counters.messages_received += 1
        return self._decode(raw)


async def round_trip(ws: ClientConnection) -> float:
    """Ping ``ws`` and wait for the Pong: the round trip in seconds on Trio's clock.
    Raises :class:`tether.ConnectionLostError` if the connection ends first."""
    start = trio.current_time()
    try:
        await ws.ping()
    except ConnectionClosed:
        raise lost_error(ws) from None
    return trio.current_time() - start
