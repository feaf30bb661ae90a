"""One generation's life: open it (stream and handshake, a new pair per redirect hop,
then ``on_connect``, all within ``connect_timeout``), serve it (deliver inbound
messages, run its writing tasks, wait for a close request), and tear it down, however
it ends.

Shape of a generation::

    ws nursery             the connection's reader (tether.connection): it hands each
    │                      message straight to the session's receive buffer
    └── generation scope   cancelled to supersede it (reconnect(), loss, close)
        ├── open           stream + handshake + on_connect, under connect_timeout
        ├── senders        writer (only while messages are queued; coalesces),
        │                  idle watchdog
        └── (this task)    drives the pinger (ping_interval / ping_timeout) while it
                           waits for aclose(); then flush, Close frame, peer's Close
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence

import trio

from ..config import Config
from ..connection import ClientConnection, Opener, lost_error, open_client
from ..events import Connected, Connecting
from ..exceptions import ConfigError, HandshakeRejected
from ..policy import (
    Hop,
    TokenBucket,
    WebSocketURL,
    follow_redirect,
    handshake_headers,
    redirect_location,
)
from ..protocol import Accepted
from ..state import State
from ._application import application_code
from ._buffers import Message, ReceiveBuffer, SendBuffer
from ._closing import Closer
from ._counters import Counters
from ._encoding import MessageEncoding
from ._event_hub import EventHub
from ._generation import Generation, UserClose
from ._handle import Connection
from ._keepalive import Pinger, watch_idle
from ._lifecycle import Lifecycle
from ._targets import Targets
from ._writer import Writer

__all__ = ["GenerationRunner", "HeadersArg", "OnConnect", "announce_attempt"]

HeadersArg = Mapping[str, str] | Callable[[], Awaitable[Mapping[str, str]]] | None
OnConnect = Callable[[Connection], Awaitable[None]]


def announce_attempt(hub: EventHub, generation: Generation, url: WebSocketURL) -> None:
    """Emit the attempt's ``Connecting``, once its URL is known."""
    hub.emit(Connecting, generation.number, attempt=generation.attempt, url=url.redacted)


class GenerationRunner:
    """Runs generations for the supervisor, one at a time."""

    __slots__ = (
        "_closer",
        "_config",
        "_counters",
        "_encoding",
        "_fixed_host",
        "_headers",
        "_hub",
        "_lifecycle",
        "_on_connect",
        "_opener",
        "_origin",
        "_pacer",
        "_receive_buffer",
        "_send_buffer",
        "_subprotocols",
        "_targets",
        "_user_agent",
        "_writer",
    )

    def __init__(
        self,
        config: Config,
        *,
        targets: Targets,
        opener: Opener,
        headers: HeadersArg,
        subprotocols: Sequence[str],
        user_agent: str | None,
        origin: str | None,
        fixed_host: bool,
        on_connect: OnConnect | None,
        encoding: MessageEncoding,
        lifecycle: Lifecycle,
        counters: Counters,
        hub: EventHub,
        send_buffer: SendBuffer,
        receive_buffer: ReceiveBuffer,
        closer: Closer,
        writer: Writer,
        pacer: TokenBucket | None = None,
    ) -> None:
        self._config = config
        self._targets = targets
        self._opener = opener
        self._headers = headers
        self._subprotocols = tuple(subprotocols)
        self._user_agent = user_agent
        self._origin = origin
        self._fixed_host = fixed_host
        self._on_connect = on_connect
        self._encoding = encoding
        self._lifecycle = lifecycle
        self._counters = counters
        self._hub = hub
        self._send_buffer = send_buffer
        self._receive_buffer = receive_buffer
        self._closer = closer
        self._writer = writer
        self._pacer = pacer

    async def run(self, generation: Generation) -> None:
        """The generation's whole life; returns once it has ended and is torn down (its
        ``outcome`` says how), raises if it could not open. Exceptions may come as
        groups from the generation's nurseries."""
        generation.on_end = self._lifecycle.leave_open_state
        async with trio.open_nursery() as ws_nursery:
            try:
                with generation.scope:
                    ws = await self._open(generation, ws_nursery)
                    await self._serve(generation, ws)
            finally:
                with trio.CancelScope(shield=True):
                    await self._closer.teardown(generation)
                ws_nursery.cancel_scope.cancel()

    async def _open(self, generation: Generation, ws_nursery: trio.Nursery) -> ClientConnection:
        """The ``url`` callable (if the URL is not known yet), stream, handshake
        (following redirects) and ``on_connect``, all within ``connect_timeout`` (past
        it: ``TimeoutError``, retried). What the ``url`` callable or ``on_connect``
        raises is ``ApplicationError`` (not retried by default), but for a
        ``ConnectionLostError`` from the connection; a bad URL from the callable is a
        ``ConfigError``."""
        timeout = self._config.connect_timeout
        with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
            if generation.url is None:
                generation.url = await self._targets.make()
                announce_attempt(self._hub, generation, generation.url)
            headers = await self._attempt_headers()
            ws, accepted = await self._handshake(generation, ws_nursery, headers)
            generation.ws = ws
            if self._on_connect is not None:
                counters = self._counters
                connection = Connection(
                    ws,
                    accepted,
                    generation=generation.number,
                    url=generation.url.redacted,
                    attempt=generation.attempt,
                    last_message_at=counters.last_message_at,
                    messages_received=counters.messages_received,
                    encode=self._encoding.encode,
                    decode=self._encoding.decode,
                    counters=counters,
                    pacer=self._pacer,
                )
                with application_code("on_connect"):
                    await self._on_connect(connection)
            return ws
        assert deadline.cancelled_caught
        shown = "while the url callable ran" if generation.url is None else generation.url.redacted
        raise TimeoutError(f"connect attempt timed out after {timeout} s ({shown})")

    async def _handshake(
        self, generation: Generation, ws_nursery: trio.Nursery, headers: Mapping[str, str]
    ) -> tuple[ClientConnection, Accepted]:
        """A stream and the opening handshake to ``generation.url``; while the server
        redirects (:func:`tether.policy.redirect_location`), close that stream and do the
        same to where it points (:func:`tether.policy.follow_redirect`, which raises
        ``RedirectError`` for a hop it refuses). ``generation.url`` ends as the URL that
        accepted; the next attempt starts again from the configured one."""
        assert generation.url is not None  # known, or made by the url callable first
        chain = [generation.url]
        hop = Hop(generation.url, credentials=True)
        while True:
            extra_headers = handshake_headers(
                headers,
                authorization=hop.url.authorization,
                user_agent=self._user_agent,
                origin=self._origin,
                credentials=hop.credentials,
            )
            generation.url = url = hop.url
            generation.stream = await self._opener(url.host, url.port, url.tls)
            try:
                return await open_client(
                    ws_nursery,
                    generation.stream,
                    host=url.host_header,
                    resource=url.resource,
                    subprotocols=self._subprotocols,
                    extra_headers=extra_headers,
                    max_message_size=self._config.max_message_size,
                    max_waiting_bytes=self._config.receive_buffer_bytes,
                    generation=generation.number,
                    compression=self._config.compression,
                    traffic=self._counters.traffic,
                )
            except HandshakeRejected as rejected:
                location = redirect_location(rejected.status_code, rejected.headers)
                if location is None:
                    raise
            hop = follow_redirect(
                chain, location, credentials=hop.credentials, fixed_host=self._fixed_host
            )
            chain.append(hop.url)
            stream, generation.stream = generation.stream, None
            await trio.aclose_forcefully(stream)

    async def _attempt_headers(self) -> Mapping[str, str]:
        """This attempt's ``headers``: the mapping given, or what the callable made (once
        per attempt, for every hop of it; checked by ``handshake_headers`` per hop).
        Raises ``ConfigError``, which the supervisor never retries, or
        ``ApplicationError`` if the callable raised."""
        headers: object = self._headers
        if headers is None:
            return {}
        if callable(headers):
            with application_code("headers"):
                made = headers()
            if not inspect.isawaitable(made):
                raise ConfigError(
                    f"headers: the callable must be async (return an awaitable mapping), "
                    f"got {type(made).__name__}"
                )
            with application_code("headers"):
                headers = await made
            if not isinstance(headers, Mapping):
                raise ConfigError(
                    f"headers: the callable must return a mapping of str to str, "
                    f"got {type(headers).__name__}"
                )
        assert isinstance(headers, Mapping)
        return headers

    async def _serve(self, generation: Generation, ws: ClientConnection) -> None:
        """The generation is open: run its tasks until one of them ends it."""
        now = trio.current_time()
        lifecycle = self._lifecycle
        closer = self._closer
        generation.opened = True
        generation.opened_at = generation.last_data_at = now
        lifecycle.generation = generation.number
        self._counters.connection_up(now)
        if lifecycle.state is not State.CLOSING:
            lifecycle.set_state(State.OPEN)
        assert generation.url is not None  # known before the stream was opened
        self._hub.emit(
            Connected, generation.number, url=generation.url.redacted, attempt=generation.attempt
        )
        config = self._config
        for message in ws.serve(functools.partial(self._deliver, generation)):
            # on_connect left these (at most 64, and receive_buffer_bytes): they go first,
            # even past the buffer's bounds; the reader then waits until it is below them.
            self._receive_buffer.put(message)
            self._counters.messages_received += 1
        ws.on_closed = functools.partial(self._connection_ended, generation, ws)
        ws.on_violation = self._settle_before_failing
        if ws.ended:
            self._connection_ended(generation, ws)
        # The tasks that write: the writer (started only while messages are queued) and
        # the idle watchdog. This task waits for a close request meanwhile, and drives
        # the pinger between its waits; any end of the generation cancels it from
        # outside (generation.scope).
        pinger = None
        if config.ping_interval is not None and config.ping_timeout is not None:
            pinger = Pinger(
                generation,
                ws,
                config.ping_interval,
                config.ping_timeout,
                self._receive_buffer,
                self._counters,
            )
            ws.on_pong = lifecycle.changed.unpark_all
        try:
            async with trio.open_nursery() as senders:
                generation.senders = senders
                if config.idle_timeout is not None:
                    senders.start_soon(
                        watch_idle, generation, config.idle_timeout, self._receive_buffer
                    )
                self._writer.ensure_writer()
                while closer.request is None:
                    if pinger is None:
                        await lifecycle.changed.park()
                        continue
                    with trio.move_on_at(pinger.wake_at):
                        await lifecycle.changed.park()
                    if closer.request is None:
                        await pinger.tick()
                request = closer.request
                assert request is not None
                if request.flush and not request.forced:
                    with trio.move_on_at(request.deadline):
                        await self._send_buffer.wait_empty()
                if generation.outcome is None:
                    generation.outcome = UserClose(request)
                senders.cancel_scope.cancel()
        finally:
            generation.senders = None  # closed to new tasks, however it ended
        outcome = generation.outcome
        assert outcome is not None  # set above, or the generation was cancelled
        await closer.close_open_generation(generation, ws)
        generation.end(outcome)

    async def _settle_before_failing(self) -> None:
        """The server broke the protocol: before the Close, let the application take
        what is in the receive buffer and have its replies written (the connection
        bounds this with ``VIOLATION_GRACE``). Two checkpoints after the buffer empties
        give a reader that answers at once (``send()`` right after ``receive()``) its
        turn; then the send buffer is flushed."""
        receive_buffer = self._receive_buffer
        await receive_buffer.wait_empty()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await self._send_buffer.wait_empty()

    def _connection_ended(self, generation: Generation, ws: ClientConnection) -> None:
        """The connection's reader ended: the connection is over."""
        generation.end(lost_error(ws))

    async def _deliver(self, generation: Generation, message: Message) -> None:
        """Called by the connection's reader task with each complete inbound message.
        Waiting here for room is the backpressure: while it waits, that task does not
        read the socket."""
        buffer = self._receive_buffer
        size = len(message)
        if not buffer.fits(size):
            await buffer.wait_for_room(size)
        generation.last_data_at = self._counters.last_message_at = trio.current_time()
        self._counters.messages_received += 1
        buffer.put(message, size)
