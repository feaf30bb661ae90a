"""``tether.connect()``: parse and check the arguments before any I/O, build the
session, run its supervisor in the session nursery, and close it on exit the way the
exit calls for (Close 1000 after a flush, 1011 on an error, 1001 on cancellation)."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import attrs
import trio

from ..codec import Codec
from ..config import Config
from ..connection import Opener, TcpOpener, UnixOpener
from ..events import Event
from ..exceptions import ConfigError, TetherError
from ..policy import (
    DEFAULT_USER_AGENT,
    ENVIRONMENT,
    WebSocketURL,
    check_callback,
    check_codec,
    check_headers_argument,
    check_origin,
    check_server_hostname,
    check_ssl_context,
    check_unix_socket,
    check_user_agent,
    choose_proxy,
    environment_proxies,
    parse_proxy_url,
)
from ._closing import GOING_AWAY, INTERNAL_ERROR
from ._groups import single_error
from ._machinery import Machinery, build_machinery
from ._runner import HeadersArg, OnConnect
from ._session import Session
from ._targets import Targets, UrlArg, parse_targets

try:  # Python 3.10
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    pass

__all__ = ["SHARED_RNG", "connect"]

#: Jitter draws when no ``rng`` is given: one generator for all sessions (a
#: ``random.Random`` holds 2.5 KiB of state; per session that was the largest cost).
SHARED_RNG = random.Random()

#: The opener of every session that connects directly with the default TLS settings
#: (a ``TcpOpener`` is immutable: one per session would be 64 bytes of each).
DIRECT_OPENER = TcpOpener()

#: The supervisor task's name in Trio (what Trio would make of ``Supervisor.run``).
SUPERVISOR_TASK_NAME = "tether.session._supervisor.Supervisor.run"

#: The configuration of every session given none: a ``Config`` is immutable, and one
#: per session is 380 bytes.
DEFAULT_CONFIG = Config()


def _probe(host: str, port: int, tls: bool) -> WebSocketURL:
    """A target for :func:`tether.policy.choose_proxy`, which looks at its host, port and
    scheme only."""
    return WebSocketURL(url="", host=host, port=port, resource="/", tls=tls, redacted="-")


@attrs.frozen
class _ProxyChooser:
    """The default opener when the environment names proxies: the proxy is chosen for
    each connection's own target (host, port, scheme), so a redirect hop, a failover
    URL or a ``url`` callable's URL each get the proxy the environment gives them
    (``https_proxy``/``http_proxy``/``all_proxy``, ``no_proxy``), from the variables as
    they were at ``connect()``. Only the proxy variables are kept, out of the ``repr``."""

    proxy_variables: Mapping[str, str] = attrs.field(repr=False)
    ssl_context: Any = attrs.field(repr=False)
    server_hostname: str | None

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        chosen = choose_proxy(_probe(host, port, tls), ENVIRONMENT, self.proxy_variables)
        opener = TcpOpener(
            ssl_context=self.ssl_context, server_hostname=self.server_hostname, proxy=chosen
        )
        return await opener(host, port, tls)


def _default_opener(
    targets: Targets,
    proxy: str | None,
    ssl_context: Any,
    server_hostname: str | None,
    environ: Mapping[str, str],
) -> Opener:
    """:class:`TcpOpener`: direct (``proxy=None``, or an environment without proxy
    variables), through the one proxy URL given, or through whichever proxy the
    environment gives each connection's target (:class:`_ProxyChooser`). A bad proxy
    URL is a ``ConfigError`` here, before any I/O: the proxy of every configured URL is
    chosen once to check it, and for a ``url`` callable those of both schemes."""
    if proxy is None:
        if ssl_context is None and server_hostname is None:
            return DIRECT_OPENER
        return TcpOpener(ssl_context=ssl_context, server_hostname=server_hostname)
    if proxy != ENVIRONMENT:
        return TcpOpener(
            ssl_context=ssl_context, server_hostname=server_hostname, proxy=parse_proxy_url(proxy)
        )
    # What environment_proxies() reads: the *_proxy variables, and REQUEST_METHOD (a
    # CGI script, where HTTP_PROXY comes from the client: "httpoxy").
    variables = {
        name: value
        for name, value in environ.items()
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD"
    }
    probes = [_probe(url.host, url.port, url.tls) for url in targets.urls] or [
        _probe("", 0, False),
        _probe("", 0, True),
    ]
    for probe in probes:
        choose_proxy(probe, ENVIRONMENT, variables)
    if not any(scheme != "no" for scheme in environment_proxies(variables)):
        return TcpOpener(ssl_context=ssl_context, server_hostname=server_hostname)
    return _ProxyChooser(variables, ssl_context, server_hostname)


def connect(
    url: UrlArg,
    *,
    config: Config | None = None,
    on_connect: OnConnect | None = None,
    headers: HeadersArg = None,
    subprotocols: Sequence[str] = (),
    user_agent: str | None = DEFAULT_USER_AGENT,
    origin: str | None = None,
    ssl_context: Any = None,
    server_hostname: str | None = None,
    codec: Codec | None = None,
    opener: Opener | None = None,
    unix_socket: str | os.PathLike[str] | None = None,
    proxy: str | None = ENVIRONMENT,
    rng: random.Random | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> AbstractAsyncContextManager[Session]:
    """Open a reconnecting WebSocket session; enter once generation 1 is open.

    Args:
        url: ``ws://`` or ``wss://`` URL, or a sequence tried in order within each outage
            (failover; each outage starts again at the first), or an ``async fn() ->
            str`` called once per attempt, whose URL that attempt connects to (Slack
            Socket Mode's fresh URL per connection, a resume URL, a presigned URL). The
            call runs within ``connect_timeout``, before the attempt's ``Connecting``
            event (which shows its URL), so an attempt whose call fails has no
            ``Connecting``. An exception it raises is an :class:`tether.ApplicationError`
            (``callback="url"``), by default not retried (``Config.retry_if`` decides); a
            URL it returns that is not valid as below (or no ``str``) ends the session
            with a ``ConfigError`` (the ``ReconnectFailed``'s ``last_error``), never
            retried. Userinfo (``ws://user:password@host/``) is sent as
            ``Authorization: Basic``, percent-decoded, unless ``headers`` has an
            ``Authorization`` header.
            Redirects of the handshake (301, 302, 303, 307, 308 with a ``Location``)
            are followed, up to 10 per attempt, each a new stream and handshake within
            the attempt's ``connect_timeout``; a relative ``Location`` is resolved
            against the URL asked, and ``http``/``https`` count as ``ws``/``wss``. A
            hop to another origin (scheme, host or port) sends neither the userinfo's
            ``Authorization`` nor ``headers``' ``Authorization`` and ``Cookie`` for the
            rest of the attempt. ``wss://`` to ``ws://``, a loop, an 11th redirect or a
            ``Location`` that is no WebSocket URL raise :class:`tether.RedirectError`
            (not retried by default). Each attempt starts again from the configured
            URL; ``Connected.url`` is where it landed.
        config: a :class:`tether.Config` (default ``Config()``).
        on_connect: ``async fn(conn: tether.Connection)``, run at the start of every
            generation, before buffered sends are flushed: authenticate, subscribe.
            Bounded by ``connect_timeout`` together with the handshake (running past
            it is a ``TimeoutError``, retried). A ``ConnectionLostError`` from ``conn``
            (the link died) retries; any other exception it raises reaches the retry
            policy as :class:`tether.ApplicationError` (the exception its
            ``__cause__``), which by default ends the session, an ``OSError`` such as
            ``PermissionError`` or ``TimeoutError`` too.
        headers: extra handshake headers: a mapping of str to str, or an
            ``async fn() -> mapping`` called before every attempt (a token refreshed on
            each reconnect). Names must be HTTP tokens and values field-values (RFC 9110
            section 5: no CR, LF, NUL or other control character, Latin-1 only, no
            leading or trailing whitespace); ``Host``, ``Upgrade``, ``Connection`` and
            ``Sec-WebSocket-*`` are tether's (any case). A mapping is checked at once; what
            the callable returns is checked per attempt, and a bad one ends the session
            (``ReconnectFailed`` whose ``last_error`` is the ``ConfigError``), never
            retried. Errors name the header, never its value. An exception the callable
            raises is an :class:`tether.ApplicationError`, by default not retried.
        subprotocols: ``Sec-WebSocket-Protocol`` values to offer, in preference order.
        user_agent: the ``User-Agent`` header (default
            :data:`tether.policy.DEFAULT_USER_AGENT`, ``trio-tether/VERSION
            Python/X.Y``); ``None`` sends none. A ``User-Agent`` in ``headers`` wins.
        origin: an ``Origin`` header to send (default ``None``: none), a serialized
            origin ``scheme://host[:port]`` (RFC 6454 section 6.2), such as
            ``"https://app.example"``, for servers that check it. An ``Origin`` in
            ``headers`` wins.
        ssl_context: an ``ssl.SSLContext`` for ``wss://`` with the default opener or
            ``unix_socket`` (default: system trust).
        server_hostname: the TLS name (SNI and the certificate check) to use instead
            of the URL's host, with the default opener (default ``None``: the host):
            ``wss://127.0.0.1:8443/`` with ``server_hostname="example.test"``. The
            ``Host`` header stays the URL's; through a proxy the tunnel still goes to
            the URL's host; with ``unix_socket`` it names the socket's TLS server. A
            redirect to another host is then a :class:`tether.RedirectError` (for
            ``ws://`` URLs too). With ``opener=`` it is a ``ConfigError``: give it to the
            opener (``tether.TcpOpener(server_hostname=...)``).
        codec: an object with ``encode`` and ``decode`` (:class:`tether.JsonCodec`);
            default raw str/bytes.
        opener: the transport seam, ``async (host, port, tls) -> trio.abc.Stream``
            (default :class:`tether.TcpOpener`; ``tether.testing`` has in-memory ones).
        unix_socket: connect every attempt to the Unix domain socket at this path
            (a ``str`` or ``os.PathLike``) instead of TCP, with
            :class:`tether.UnixOpener`: the URL still gives the ``Host`` header and the
            resource, and ``wss://`` does TLS over the socket with the URL's host as the
            server name (its certificate must match it). Default ``None`` (TCP). Not
            together with ``opener``.
        proxy: how the default opener reaches the server: ``"environment"`` (the
            default, ``tether.policy.ENVIRONMENT``) takes the proxy from the environment
            when the session starts: ``https_proxy`` for ``wss://``, ``http_proxy`` for
            ``ws://``, else ``all_proxy`` (any case, the lower-case name first), skipped
            for a host that ``no_proxy`` names (host or domain suffix, ``host:port``,
            ``*``); ``None`` connects directly, whatever the environment says; a proxy
            URL tunnels every attempt through it: ``http://`` and ``https://`` (HTTP
            ``CONNECT``; ``user:password@`` is sent as ``Proxy-Authorization: Basic``),
            ``socks5://`` (the name resolved here), ``socks5h://`` (resolved by the
            proxy), ``socks4://``, ``socks4a://``. TLS to a ``wss://`` server runs
            through the tunnel, checked for the server's name; ``connect_timeout``
            bounds the proxy's handshake too. A proxy that is down or resets is
            retried (:class:`tether.ProxyError`); one that refuses the credentials
            (407, SOCKS) ends the session after one attempt
            (:class:`tether.ProxyAuthenticationError`). Credentials never appear in
            an event, error or log line. Only for the default opener: a proxy URL
            together with ``opener`` is a ``ConfigError``.
        rng: ``random.Random`` for backoff jitter (seed it for a repeatable schedule).
        on_event: ``fn(event)`` called synchronously for every event from the first
            ``Connecting`` on, including those before entry (``events()`` subscribes
            only after). It must not block; an exception from it is logged and ignored.

    Raises (on entry): :class:`tether.ConfigError` naming the argument, at once and
    before any I/O: a URL that is not a ``str`` (or sequence of them, or callable), not
    ``ws``/``wss``,
    without a host, with port 0 or a fragment; ``config`` not a ``Config``; ``headers``
    neither a mapping nor callable, or a header that may not be sent; a ``user_agent``
    that is not a header value; an ``origin`` that is not ``scheme://host[:port]``;
    ``on_connect``, ``on_event`` or ``opener`` not callable; ``ssl_context`` not an
    ``ssl.SSLContext``; ``server_hostname`` not a host name, or given with ``opener``;
    ``unix_socket`` not a path, or given together with ``opener`` or a proxy URL;
    a ``codec`` without ``encode``/``decode``; a malformed or unsupported proxy URL
    (from ``proxy`` or the environment, which the message names), or a proxy URL
    with ``opener``;
    :class:`tether.HandshakeRejected` for a fatal rejection (401, 403, 404 ...) after one
    attempt; :class:`tether.ReconnectFailed` when the policy gives up first (for a
    redirect refused, its ``__cause__`` is the :class:`tether.RedirectError`).

    On exit the session closes: normally with ``aclose()`` (flush, Close 1000); if the
    body raised, with Close 1011 and without flushing; if the body was cancelled or
    interrupted (``KeyboardInterrupt``), with Close 1001 in a shielded scope bounded by
    ``close_timeout``. If the session ended with
    an error the body never saw, that error is raised on exit. No ``ExceptionGroup``
    escapes.
    """
    return _SessionScope(
        functools.partial(
            _build,
            url,
            config=config,
            on_connect=on_connect,
            headers=headers,
            subprotocols=subprotocols,
            user_agent=user_agent,
            origin=origin,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            codec=codec,
            opener=opener,
            unix_socket=unix_socket,
            proxy=proxy,
            rng=rng,
            on_event=on_event,
        )
    )


def _build(
    url: UrlArg,
    *,
    config: Config | None,
    on_connect: OnConnect | None,
    headers: HeadersArg,
    subprotocols: Sequence[str],
    user_agent: str | None,
    origin: str | None,
    ssl_context: Any,
    server_hostname: str | None,
    codec: Codec | None,
    opener: Opener | None,
    unix_socket: str | os.PathLike[str] | None,
    proxy: str | None,
    rng: random.Random | None,
    on_event: Callable[[Event], None] | None,
) -> Machinery:
    """:func:`connect`'s checks (``ConfigError`` before any I/O), then the session's
    parts."""
    targets = parse_targets(url)
    if config is None:
        config = DEFAULT_CONFIG
    elif not isinstance(config, Config):
        raise ConfigError(f"config: must be a tether.Config, got {config!r}")
    check_headers_argument(headers)
    check_user_agent(user_agent)
    check_origin(origin)
    check_callback("on_connect", on_connect)
    check_callback("on_event", on_event)
    check_callback("opener", opener)
    check_ssl_context(ssl_context)
    check_server_hostname(server_hostname, default_opener=opener is None)
    check_unix_socket(unix_socket, opener)
    check_codec(codec)
    if isinstance(subprotocols, str):
        subprotocols = (subprotocols,)
    if proxy is not None and not isinstance(proxy, str):
        raise ConfigError(f"proxy: must be a proxy URL str or None, got {type(proxy).__name__}")
    explicit_proxy = proxy is not None and proxy != ENVIRONMENT
    if unix_socket is not None:
        if explicit_proxy:
            raise ConfigError("proxy: a Unix domain socket (unix_socket=) takes no proxy")
        opener = UnixOpener(unix_socket, ssl_context=ssl_context, server_hostname=server_hostname)
    elif opener is None:
        opener = _default_opener(targets, proxy, ssl_context, server_hostname, os.environ)
    elif explicit_proxy:
        raise ConfigError(
            "proxy: applies to the default opener only; give yours the proxy "
            "(tether.TcpOpener(proxy=...))"
        )
    return build_machinery(
        targets,
        config=config,
        on_connect=on_connect,
        headers=headers,
        subprotocols=tuple(subprotocols),
        user_agent=user_agent,
        origin=origin,
        fixed_host=server_hostname is not None,
        codec=codec,
        opener=opener,
        rng=rng or SHARED_RNG,
        on_event=on_event,
    )


class _SessionScope:
    """What :func:`connect` returns: entering opens the session (its nursery, the
    supervisor's task, generation 1), leaving closes it. A class, not an
    ``asynccontextmanager``: a suspended async generator is half a KiB of every idle
    session's memory. The nursery is entered and left by hand, in the entering task,
    as ``async with`` would."""

    __slots__ = ("_build", "_machinery", "_nursery", "_session")

    def __init__(self, build: Callable[[], Machinery]) -> None:
        self._build: Callable[[], Machinery] | None = build
        self._machinery: Machinery | None = None
        self._session: Session | None = None
        self._nursery: AbstractAsyncContextManager[trio.Nursery] | None = None

    async def __aenter__(self) -> Session:
        build, self._build = self._build, None
        if build is None:
            raise RuntimeError("connect(): each call opens one session, entered once")
        machinery = build()
        session = Session(machinery)
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        # A constant name (the one Trio would make): Trio formats one per task otherwise,
        # 90 bytes of every session.
        nursery.start_soon(machinery.supervisor.run, nursery, name=SUPERVISOR_TASK_NAME)
        try:
            await machinery.lifecycle.wait_first_open()
        except TetherError:
            await _leave(manager, None)
            raise
        except BaseException as error:
            await _leave(manager, error)
            raise
        self._machinery, self._session, self._nursery = machinery, session, manager
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        machinery, session, manager = self._machinery, self._session, self._nursery
        assert machinery is not None  # entered
        assert session is not None
        assert manager is not None
        self._machinery = self._session = self._nursery = None
        lifecycle, closer = machinery.lifecycle, machinery.closer
        if exc is None:
            try:
                await session.aclose()
            except BaseException as error:
                await _leave(manager, error)
                raise
            await _leave(manager, None)
            if lifecycle.terminal is not None and not lifecycle.terminal_seen:
                lifecycle.terminal_seen = True
                raise lifecycle.terminal
            return False
        if _holds(exc, KeyboardInterrupt):
            # Ctrl-C: the user is leaving, like a cancellation.
            closer.request_close(GOING_AWAY, "going away", flush=False)
            closer.force()
        elif not _only(exc, trio.Cancelled):
            # An error in the body: tell the peer, do not flush.
            closer.request_close(INTERNAL_ERROR, "client error", flush=False)
            closer.force()
        # Cancelled: the generation's teardown sends Close 1001 itself.
        await _leave(manager, None)
        return False  # the body's exception goes on


async def _leave(
    manager: AbstractAsyncContextManager[trio.Nursery], error: BaseException | None
) -> None:
    """Leave the session nursery as ``async with`` would with ``error`` (``None``: the
    body ended normally); what it raises comes out as one exception, never a group.
    Returns when it swallowed ``error``: the caller re-raises it."""
    try:
        if error is None:
            await manager.__aexit__(None, None, None)
        else:
            await manager.__aexit__(type(error), error, error.__traceback__)
    except BaseExceptionGroup as group:
        raise single_error(group) from None


def _holds(error: BaseException, kind: type[BaseException]) -> bool:
    """``error`` is a ``kind``, or an exception group (from a nursery in the body) with
    one among its leaves."""
    if isinstance(error, BaseExceptionGroup):
        return error.subgroup(kind) is not None
    return isinstance(error, kind)


def _only(error: BaseException, kind: type[BaseException]) -> bool:
    """``error`` is a ``kind``, or an exception group whose leaves all are: a nursery in
    the body cancelled from outside raises its children's ``Cancelled`` as a group."""
    if isinstance(error, BaseExceptionGroup):
        return error.split(kind)[1] is None
    return isinstance(error, kind)
