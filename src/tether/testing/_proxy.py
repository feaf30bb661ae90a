"""ChaosProxy: a loopback TCP proxy that injects network faults on command.

The proxy listens on a loopback port and forwards every accepted TCP connection to one
upstream address, byte for byte, in both directions. Tests and the ``tether demo`` put
it between a client and a server and then break the path on purpose::

    async with ChaosProxy(upstream=("127.0.0.1", server_port)) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/"
        ...
        proxy.drop()        # reset every proxied connection (TCP RST both ways)
        proxy.stall()       # half-open link: both TCP connections stay up, no bytes pass
        proxy.resume()      # bytes flow again, including those held during the stall
        proxy.go_down()     # close the listener: new connects are refused (RST)
        proxy.come_back()   # listen again, on the same port
        proxy.slow(0.05)    # add 50 ms of one-way latency per direction

How it forwards: each direction of each link is a reader task and a writer task joined
by a small channel of chunks (at most ``_QUEUE_CHUNKS`` chunks of up to ``_CHUNK_BYTES``
bytes). The reader stamps each chunk with a due time (arrival + the current delay); the
writer sleeps until the chunk is due, waits while the proxy is stalled, then writes it.
End-of-stream and resets travel through the same channel, in order, so a stall holds
back a FIN or RST too: the far side learns nothing until ``resume()``, exactly like a
partitioned network. When the channel is full the reader stops reading, so TCP flow
control pushes back on the sender instead of the proxy buffering without bound.

Every command is synchronous and takes effect at once (``drop()`` has closed the
sockets when it returns). All addresses must be loopback (127.0.0.0/8 or ::1): this is
a test tool and must never relay traffic off the machine. Durations are seconds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
import struct
import sys
from collections.abc import Callable
from types import TracebackType

import attrs
import trio

if sys.version_info < (3, 11):  # pragma: no cover
    # Not installed where the type checker runs on 3.11+ with python_version = 3.10.
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["ChaosProxy", "ProxyStats"]

#: Bytes read from a socket at a time.
_CHUNK_BYTES = 65536
#: Chunks a direction holds between its reader and its writer (here: at most 1 MiB).
_QUEUE_CHUNKS = 16
#: Listen backlog (pending, not yet accepted connections).
_BACKLOG = 128

Address = tuple[str, int]


@attrs.frozen(kw_only=True)
class ProxyStats:
    """A snapshot of a :class:`ChaosProxy`'s counters (``proxy.statistics()``).

    Attributes:
        accepted: TCP connections accepted since the proxy started.
        open: proxied connections alive now (accepted and not yet closed or dropped).
        dropped: connections reset by :meth:`ChaosProxy.drop`.
        upstream_failures: accepted connections whose upstream connect failed; the
            proxy resets those at once.
        stalled: whether forwarding is stopped (:meth:`ChaosProxy.stall`).
        down: whether the listener is closed (:meth:`ChaosProxy.go_down`).
        delay: one-way latency added per direction, in seconds.
    """

    accepted: int
    open: int
    dropped: int
    upstream_failures: int
    stalled: bool
    down: bool
    delay: float


def _require_loopback(address: Address, role: str) -> None:
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{role}: {host!r} is not an IP address; ChaosProxy only uses loopback "
            "addresses (127.0.0.1 or ::1)"
        ) from None
    if not ip.is_loopback:
        raise ValueError(f"{role}: {host} is not a loopback address (127.0.0.1 or ::1)")
    if not 0 <= port <= 65535:
        raise ValueError(f"{role}: port {port} is out of range 0-65535")


def _reset_on_close(sock: trio.socket.SocketType) -> None:
    """Set SO_LINGER to (on, 0 s) so that closing ``sock`` sends a RST, not a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Link:
    """One proxied connection: the accepted (downstream) and upstream TCP streams."""

    def __init__(self, downstream: trio.SocketStream) -> None:
        self.downstream = downstream
        self.upstream: trio.SocketStream | None = None
        self.cancel_scope = trio.CancelScope()
        self.aborted = False

    def streams(self) -> list[trio.SocketStream]:
        return [s for s in (self.downstream, self.upstream) if s is not None]

    def abort(self) -> None:
        """Reset both TCP connections now (RST each way) and stop the link's tasks."""
        self.aborted = True
        for stream in self.streams():
            _reset_on_close(stream.socket)
            stream.socket.close()
        self.cancel_scope.cancel()


# What travels from a direction's reader to its writer: (due time, data). ``b""`` is
# end-of-stream (forward a FIN); ``None`` is a reset or error (reset the whole link).
_Chunk = tuple[float, bytes | None]


class ChaosProxy:
    """A loopback TCP proxy with fault injection; an async context manager.

    Args:
        upstream: ``(host, port)`` every accepted connection is forwarded to; the host
            must be a loopback IP address.
        listen: ``(host, port)`` to listen on (default ``("127.0.0.1", 0)``: an
            ephemeral port, see :attr:`port`); loopback only.

    Entering the context binds the port and starts accepting; leaving it closes the
    listener and every proxied connection. A connection whose upstream connect fails
    is reset at once. The commands (:meth:`drop`, :meth:`stall`, :meth:`resume`,
    :meth:`go_down`, :meth:`come_back`, :meth:`refuse`, :meth:`slow`) are synchronous
    and can be called from any task while the proxy runs.
    """

    def __init__(self, upstream: Address, *, listen: Address = ("127.0.0.1", 0)) -> None:
        _require_loopback(upstream, "upstream")
        _require_loopback(listen, "listen")
        self._upstream = upstream
        self._listen_host, self._port = listen
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: contextlib.AbstractAsyncContextManager[trio.Nursery] | None = None
        self._listener: trio.SocketListener | None = None
        self._accept_scope: trio.CancelScope | None = None
        self._links: set[_Link] = set()
        self._accepted = 0
        self._dropped = 0
        self._upstream_failures = 0
        self._stalled = False
        self._resumed = trio.Event()
        self._delay = 0.0
        self._changed = trio.Event()

    # -- lifetime -------------------------------------------------------------------

    async def __aenter__(self) -> ChaosProxy:
        if self._nursery_manager is not None:
            raise RuntimeError("a ChaosProxy can be entered only once")
        listener = self._bind()
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        self._start_accepting(listener)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._nursery is not None
        assert self._nursery_manager is not None
        self._close_listener()
        self._nursery.cancel_scope.cancel()
        try:
            return bool(await self._nursery_manager.__aexit__(exc_type, exc, tb))
        except BaseExceptionGroup as group:
            # The body's own exception comes back wrapped in the nursery's group (the
            # proxy's tasks never raise): let the original propagate unwrapped.
            if exc is not None and group.split(lambda e: e is exc)[1] is None:
                return False
            raise

    # -- observation ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port; it stays the same across :meth:`go_down`/:meth:`come_back`."""
        return self._port

    @property
    def address(self) -> Address:
        """``(host, port)`` the proxy listens on."""
        return (self._listen_host, self._port)

    @property
    def accepted(self) -> int:
        """TCP connections accepted since the proxy started."""
        return self._accepted

    @property
    def open_connections(self) -> int:
        """Proxied connections alive now."""
        return len(self._links)

    @property
    def stalled(self) -> bool:
        """Whether forwarding is stopped (see :meth:`stall`)."""
        return self._stalled

    @property
    def down(self) -> bool:
        """Whether the listener is closed (see :meth:`go_down`)."""
        return self._listener is None

    def statistics(self) -> ProxyStats:
        """A frozen snapshot of the proxy's counters and fault state."""
        return ProxyStats(
            accepted=self._accepted,
            open=len(self._links),
            dropped=self._dropped,
            upstream_failures=self._upstream_failures,
            stalled=self._stalled,
            down=self.down,
            delay=self._delay,
        )

    async def wait_until(self, predicate: Callable[[ProxyStats], bool]) -> ProxyStats:
        """Wait until ``predicate(proxy.statistics())`` is true; return that snapshot.

        Re-evaluated whenever a counter or fault state changes. No timeout of its own:
        wrap it in ``trio.fail_after(seconds)``; cancelling it is safe.
        """
        while True:
            stats = self.statistics()
            if predicate(stats):
                return stats
            await self._changed.wait()

    # -- fault commands -------------------------------------------------------------

    def drop(self) -> int:
        """Reset every proxied connection now: both sockets of each link are closed with
        SO_LINGER 0, so each peer gets a TCP RST (a WebSocket peer sees close code 1006).
        The listener keeps accepting. Returns the number of connections reset."""
        links = list(self._links)
        for link in links:
            link.abort()
            self._links.discard(link)
        self._dropped += len(links)
        self._notify()
        return len(links)

    def stall(self) -> None:
        """Stop forwarding bytes in both directions, on every link, existing and new,
        while keeping all TCP connections up: a half-open link that only an
        application-level timeout (a WebSocket ping) can detect. Data, FINs and resets
        arriving meanwhile are held (up to about 1 MiB per direction, then TCP flow
        control stops the sender) and delivered in order by :meth:`resume`. New
        connections are still accepted and connected upstream."""
        if not self._stalled:
            self._stalled = True
            self._resumed = trio.Event()
            self._notify()

    def resume(self) -> None:
        """Undo :meth:`stall`: forward again, starting with what was held."""
        if self._stalled:
            self._stalled = False
            self._resumed.set()
            self._notify()

    def go_down(self) -> None:
        """Close the listening socket: connects to :attr:`port` are refused (TCP RST,
        ``ConnectionRefusedError``) until :meth:`come_back`. Connections already
        proxied keep working; combine with :meth:`drop` for a full outage."""
        self._close_listener()
        self._notify()

    def come_back(self) -> None:
        """Listen again on the same port after :meth:`go_down`. Raises ``OSError`` if
        another socket took the port meanwhile."""
        if self._listener is None:
            self._start_accepting(self._bind())
            self._notify()

    def refuse(self, refusing: bool) -> None:
        """``refuse(True)`` is :meth:`go_down`, ``refuse(False)`` is :meth:`come_back`."""
        if refusing:
            self.go_down()
        else:
            self.come_back()

    def slow(self, delay: float) -> None:
        """Add ``delay`` seconds of one-way latency to each direction of every link
        (``0`` removes it). Applies to bytes read from now on; throughput is not
        capped, chunks are only held back until due. Raises ``ValueError`` for a
        negative or non-finite ``delay``."""
        if isinstance(delay, bool) or not math.isfinite(delay) or delay < 0:
            raise ValueError(f"delay: must be a finite number of seconds >= 0, got {delay!r}")
        self._delay = float(delay)
        self._notify()

    # -- internals: listening ---------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _bind(self) -> trio.SocketListener:
        family = socket.AF_INET6 if ":" in self._listen_host else socket.AF_INET
        raw = socket.socket(family, socket.SOCK_STREAM)
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            raw.bind((self._listen_host, self._port))
            raw.listen(_BACKLOG)
            raw.setblocking(False)
        except BaseException:
            raw.close()
            raise
        sock = trio.socket.from_stdlib_socket(raw)
        self._port = sock.getsockname()[1]
        return trio.SocketListener(sock)

    def _start_accepting(self, listener: trio.SocketListener) -> None:
        assert self._nursery is not None
        self._listener = listener
        self._accept_scope = trio.CancelScope()
        self._nursery.start_soon(self._accept_loop, listener, self._accept_scope)

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.socket.close()
            self._listener = None
        if self._accept_scope is not None:
            self._accept_scope.cancel()
            self._accept_scope = None

    async def _accept_loop(self, listener: trio.SocketListener, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                try:
                    stream = await listener.accept()
                except trio.ClosedResourceError:
                    return
                except OSError:
                    # Out of file descriptors and the like: back off briefly, keep serving.
                    await trio.sleep(0.01)
                    continue
                assert self._nursery is not None
                self._nursery.start_soon(self._serve_link, stream)

    # -- internals: forwarding --------------------------------------------------------

    async def _serve_link(self, downstream: trio.SocketStream) -> None:
        link = _Link(downstream)
        self._links.add(link)
        self._accepted += 1
        self._notify()
        try:
            with link.cancel_scope:
                try:
                    link.upstream = await trio.open_tcp_stream(*self._upstream)
                except OSError:
                    self._upstream_failures += 1
                    link.abort()
                    return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._forward, link, downstream, link.upstream)
                    nursery.start_soon(self._forward, link, link.upstream, downstream)
        finally:
            self._links.discard(link)
            self._notify()
            for stream in link.streams():
                await trio.aclose_forcefully(stream)

    async def _forward(
        self, link: _Link, source: trio.SocketStream, sink: trio.SocketStream
    ) -> None:
        """Copy one direction of ``link`` until end-of-stream or a reset."""
        send_channel, receive_channel = trio.open_memory_channel[_Chunk](_QUEUE_CHUNKS)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_side, source, send_channel)
            await self._write_side(link, receive_channel, sink)
            nursery.cancel_scope.cancel()

    async def _read_side(
        self, source: trio.SocketStream, channel: trio.MemorySendChannel[_Chunk]
    ) -> None:
        async with channel:
            while True:
                data: bytes | None
                try:
                    data = await source.receive_some(_CHUNK_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = None
                await channel.send((trio.current_time() + self._delay, data))
                if not data:
                    return

    async def _write_side(
        self,
        link: _Link,
        channel: trio.MemoryReceiveChannel[_Chunk],
        sink: trio.SocketStream,
    ) -> None:
        async with channel:
            async for due, data in channel:
                await trio.sleep_until(due)
                while self._stalled:
                    await self._resumed.wait()
                if data is None:
                    link.abort()
                    return
                try:
                    if not data:
                        await sink.send_eof()
                        return
                    await sink.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    link.abort()
                    return
