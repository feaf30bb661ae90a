"""Every exception trio-tether raises, under one root.

::

    TetherError
    ├── ConfigError            (also ValueError) invalid Config field, URL or argument
    ├── SendBufferFull         (also trio.WouldBlock) send buffer full under Overflow.RAISE,
    │                          or send_nowait() under Overflow.BLOCK
    ├── MessageDropped         a message waited on by send() was evicted by Overflow.DROP_OLDEST
    ├── ConnectionLostError    an open connection ended (seen by retry_if, BackingOff, __cause__)
    ├── ApplicationError       the application's on_connect or headers callable raised;
    │                          ``__cause__`` (and ``error``) is its exception; not retried
    ├── IncompatibleServer     the server cannot be spoken to as configured (an extension
    │                          or subprotocol we did not offer, no TLS on a wss:// URL)
    ├── RedirectError          a redirect of the handshake that tether will not follow (a
    │                          wss:// -> ws:// downgrade, a loop, more than 10 hops, a
    │                          Location that is no WebSocket URL); ``hops``; not retried
    ├── ProxyError         (also OSError) the proxy did not open the tunnel (``proxy``
    │   │                  redacted, ``kind``, ``code``); retried unless the table says
    │   └── ProxyAuthenticationError   407, or the SOCKS proxy refused the credentials;
    │                      not retried
    ├── DecodeError            the codec could not decode an inbound message; ``raw`` keeps it
    ├── RequestTimeout         (also TimeoutError) no reply to a tether.delivery request()
    │                          within its timeout; ``request_id``, ``timeout``
    ├── RotationFailedError    Session.rotate() could not open the new connection (the
    │                          old one serves on); ``__cause__`` is why
    └── SessionClosed          the session has ended; no more sends or receives
        └── ReconnectFailed    the retry policy gave up; ``__cause__`` is the last error
            └── HandshakeRejected   the server answered the upgrade with an HTTP status
                                    (``status_code``, ``headers``, ``body`` up to 4 KiB,
                                    ``body_truncated``)

No public call of tether raises an ``ExceptionGroup``: groups from Trio nurseries are
unwrapped at the boundary and the single meaningful error is raised. Errors of the
transport (``OSError``, ``trio.BrokenResourceError``, h11's protocol errors) never
escape a public call; they surface as ``__cause__`` of a tether error or as the
``error`` of a :class:`tether.events.BackingOff` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import trio

if TYPE_CHECKING:
    from .events import LostReason

__all__ = [
    "ApplicationError",
    "ConfigError",
    "ConnectionLostError",
    "DecodeError",
    "HandshakeRejected",
    "IncompatibleServer",
    "MessageDropped",
    "ProxyAuthenticationError",
    "ProxyError",
    "ReconnectFailed",
    "RedirectError",
    "RequestTimeout",
    "RotationFailedError",
    "SendBufferFull",
    "SessionClosed",
    "TetherError",
]


class TetherError(Exception):
    """Root of every exception raised by trio-tether."""


class ConfigError(TetherError, ValueError):
    """An invalid configuration value, URL or argument.

    Raised at construction (``Config(...)``, ``connect(...)``), before any network I/O,
    and by ``Session.aclose()`` for a code or reason it may not send. The message names
    the offending field or argument, e.g. ``ping_timeout: must be > 0, got -1``; for a
    header it names the header and never quotes its value. Headers made by an async
    ``headers`` callable are checked per attempt: a bad one ends the session, never
    retried, with this as the ``last_error`` of its ``ReconnectFailed``.
    """


class SendBufferFull(TetherError, trio.WouldBlock):
    """The bounded send buffer is full: it holds ``Config.send_buffer`` messages, or the
    new message would take it past ``Config.send_buffer_bytes`` (the message says which).

    Raised by ``Session.send()`` under ``Overflow.RAISE`` and by ``Session.send_nowait()``
    under ``Overflow.BLOCK`` or ``Overflow.RAISE``; under ``Overflow.DROP_OLDEST`` by
    both only when the messages being written leave no room for the new one (nothing
    else can be evicted). The message was not buffered.
    It is also a ``trio.WouldBlock``, the Trio convention for a ``*_nowait`` call.
    """


class MessageDropped(TetherError):
    """A message that ``send()`` was waiting on was evicted under ``Overflow.DROP_OLDEST``.

    It was never written. A :class:`tether.events.MessagesDropped` event is emitted too.
    """


class DecodeError(TetherError):
    """The session's codec could not decode an inbound message.

    The message is consumed (the next ``receive()`` returns the next one); nothing is
    lost, because ``raw`` holds the undecoded ``str`` or ``bytes`` as received.
    """

    def __init__(self, message: str, raw: str | bytes) -> None:
        super().__init__(message)
        self.raw = raw


class RequestTimeout(TetherError, TimeoutError):
    """No reply to a request came within its timeout (``tether.delivery``'s
    ``Delivery.request(message, timeout=...)``). ``request_id`` is the request's id (as
    the dialect found it), ``timeout`` the seconds it waited. The request is no longer
    resent; a reply that comes later goes to ``receive()``. It is also a
    ``TimeoutError``."""

    def __init__(self, request_id: object, timeout: float) -> None:
        super().__init__(f"no reply to request {request_id!r} within {timeout:g} s")
        self.request_id = request_id
        self.timeout = timeout


class RotationFailedError(TetherError):
    """``Session.rotate()`` could not open the new connection: the old one serves on,
    nothing was lost. ``__cause__`` (and ``error``) is the attempt's error, mapped as
    for ``BackingOff.error`` (a ``HandshakeRejected``, a ``TimeoutError`` past
    ``connect_timeout``, an ``ApplicationError`` from ``on_connect``, ...)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"the rotation could not open a new connection: {error!r}")
        self.error = error


class SessionClosed(TetherError):
    """The session has ended: ``aclose()`` was called, the enclosing scope exited, or the
    retry policy gave up (see :class:`ReconnectFailed`).

    Raised by ``send()``, ``receive()`` and ``wait_connected()`` once no more traffic is
    possible. ``receive()`` first returns any messages still buffered.
    """


class ReconnectFailed(SessionClosed):
    """The retry policy gave up: ``max_attempts`` or ``give_up_after`` was exhausted, or an
    error the policy classifies as fatal occurred (a 4xx handshake, a TLS certificate
    error, a peer close code such as 1008, a message over ``max_message_size``, an
    :class:`IncompatibleServer`, an :class:`ApplicationError`). The message names it,
    e.g. ``not retrying after a fatal error: ApplicationError("on_connect raised
    PermissionError('denied')")``.

    ``__cause__`` is the last error (also available as ``last_error``).
    """

    def __init__(self, message: str, last_error: BaseException | None = None) -> None:
        super().__init__(message)
        self.last_error = last_error


class HandshakeRejected(ReconnectFailed):
    """The server answered the WebSocket upgrade with an HTTP status instead of 101.

    Attributes: ``status_code`` (int), ``headers`` (mapping of lower-cased header name to
    value, both ``str``), ``body`` (``bytes``, possibly empty: an excerpt of at most
    :attr:`MAX_BODY` bytes, 4096, the start of what the server sent), ``body_truncated``
    (``True`` when the server's body was longer and ``body`` is cut). A longer ``body``
    given to the constructor is cut the same way. 4xx statuses other than 408 and 429
    end the session at once; 5xx, 408 and 429 are retried (honouring ``Retry-After``)
    and, when the policy gives up, appear as the ``__cause__`` of a
    :class:`ReconnectFailed`.
    """

    #: Bytes of the server's body kept in :attr:`body` (``tether.protocol`` reads no more).
    MAX_BODY: ClassVar[int] = 4096

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        body_truncated: bool = False,
    ) -> None:
        super().__init__(f"handshake rejected with HTTP {status_code}")
        self.status_code = status_code
        self.headers = dict(headers)
        self.body = bytes(body[: self.MAX_BODY])
        self.body_truncated = body_truncated or len(body) > self.MAX_BODY


class ConnectionLostError(TetherError):
    """An open generation ended (the error behind a ``ConnectionLost`` event).

    It never escapes a public call; ``Config.retry_if`` and ``BackingOff.error`` see it,
    and it can be the ``__cause__`` of :class:`ReconnectFailed`. Attributes mirror the
    event: ``reason`` (:class:`tether.events.LostReason`), ``code`` (close code or
    ``None``), ``detail`` (text).
    """

    def __init__(self, reason: LostReason, code: int | None, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}" + (f" (code {code})" if code else ""))
        self.reason = reason
        self.code = code
        self.detail = detail


class ApplicationError(TetherError):
    """The application's own code, called by the session, raised: the ``on_connect``
    callback, the ``headers`` callable or the ``url`` callable.

    ``callback`` is ``"on_connect"``, ``"headers"`` or ``"url"``; ``error`` and ``__cause__`` are
    the exception it raised (a single one: an exception group is unwrapped first). The
    message names both: ``on_connect raised PermissionError('denied')``. It is what
    ``Config.retry_if`` and ``BackingOff.error`` see; the default table does not retry
    it, whatever the exception (an ``OSError`` such as ``PermissionError`` or
    ``TimeoutError`` too): the session ends with :class:`ReconnectFailed` whose
    ``__cause__`` is this error. Not wrapped: a :class:`ConnectionLostError` raised by
    ``Connection.send`` or ``receive`` because the link died (retried like any loss),
    and a timeout of ``connect_timeout`` while ``on_connect`` runs (a ``TimeoutError``
    raised by the session, retried).
    """

    def __init__(self, callback: str, error: BaseException) -> None:
        super().__init__(f"{callback} raised {error!r}")
        self.callback = callback
        self.error = error
        self.__cause__ = error


class IncompatibleServer(TetherError):
    """The server cannot be spoken to as configured, and another attempt would meet the
    same answer, so the default table does not retry it:

    * its 101 selected a WebSocket extension other than the permessage-deflate offered,
      answered that offer against RFC 7692 section 7.1, or selected a subprotocol the
      client did not offer; RFC 6455 section 4.1 says the client must fail the
      connection;
    * a ``wss://`` URL reached a server that does not speak TLS (the TLS handshake read
      plain HTTP): the message names the SSL error and asks whether the URL should be
      ``ws://``, and ``__cause__`` is the ``ssl.SSLError``.
    """


class RedirectError(TetherError):
    """The server redirected the opening handshake (301, 302, 303, 307 or 308 with a
    ``Location``) somewhere tether will not follow, so the attempt failed:

    * from ``wss://`` to ``ws://`` (a TLS downgrade, whatever the host);
    * a loop (a URL this attempt already asked), or more than 10 redirects in one
      attempt (``tether.policy.MAX_REDIRECTS``);
    * a ``Location`` that is not a WebSocket URL once resolved (RFC 9110 section
      10.2.2; ``http`` and ``https`` count as ``ws`` and ``wss``), or that carries
      userinfo (credentials from a server are not sent on);
    * to another host when ``connect(server_hostname=...)`` fixed the TLS name.

    The default table does not retry it: the server would answer the same. ``hops`` is
    the attempt's chain of URLs, redacted (``tether.policy.redact_url``), from the one
    configured to the one refused (or the ``Location`` as sent, redacted, when it does
    not resolve); the message names them joined by arrows (``a -> b``), so it shows no
    secret.
    """

    def __init__(self, message: str, hops: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.hops = tuple(hops)


class ProxyError(TetherError, OSError):
    """The proxy did not open a tunnel to the target.

    Attributes: ``proxy`` (the proxy URL as it may be shown: no credentials), ``kind``
    (``"http"``, ``"socks4"`` or ``"socks5"``) and ``code``: the proxy's HTTP status to
    the ``CONNECT`` (``502``), or its SOCKS reply code (SOCKS5: 1 general failure, 2 not
    allowed by the ruleset, 3 network unreachable, 4 host unreachable, 5 connection
    refused, ...; SOCKS4: 91-93), or ``None`` when the proxy could not be reached or
    broke off the exchange (``__cause__`` is the error below). The message names the
    proxy and what happened, never a credential.

    It is an ``OSError``, and the default table retries it (a proxy that is down,
    restarting, or cannot reach the target yet), except for answers that will not
    change: an HTTP 4xx other than 408 and 429, SOCKS5 codes 2, 7 and 8, SOCKS4 code
    92 and 93, and :class:`ProxyAuthenticationError`.
    """

    def __init__(self, message: str, *, proxy: str, kind: str, code: int | None = None) -> None:
        super().__init__(message)
        self.proxy = proxy
        self.kind = kind
        self.code = code


class ProxyAuthenticationError(ProxyError):
    """The proxy refused our credentials, or asked for some we did not give: an HTTP
    ``407 Proxy Authentication Required`` (``code`` 407), or a SOCKS5 proxy that
    rejected the user name and password (RFC 1929) or accepts none of the methods we
    offered. The same credentials would be refused again, so the default table does
    not retry it: the session ends after one attempt."""
