"""The client's opening handshake (RFC 6455 section 4.1) over h11, with no I/O.

:class:`ClientHandshake` writes the upgrade request and reads the server's answer,
byte chunk by byte chunk, into one of three outcomes: :class:`Accepted` (with the bytes
that followed the response: the first frames), :class:`HandshakeRefused` (an HTTP
answer other than 101, with its headers and at most 4 KiB of its body), or a
``ConnectionError`` for a response that is not a valid WebSocket acceptance
(:class:`HandshakeFailed`; :class:`UnofferedSelection` when it selected an extension or
subprotocol the client did not offer). h11 does
the HTTP/1.1 parsing and bounds the header size (16 KiB).

:class:`HandshakeRefused` is this layer's own value; the connection layer maps it to
:class:`tether.HandshakeRejected` at its edge (``tether.connection._errors``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Final

import attrs
import h11

from ._deflate import DeflateAgreement, DeflateOffer, ExtensionAnswerError, negotiate

__all__ = [
    "MAX_REJECTION_BODY",
    "Accepted",
    "ClientHandshake",
    "HandshakeFailed",
    "HandshakeRefused",
    "UnofferedSelection",
    "accept_token",
]

#: Section 1.3: the GUID appended to the key before hashing.
_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Body bytes of a refusal kept for :attr:`HandshakeRefused.body`; the rest is not read.
#: An excerpt to show or log: the answer is raised, retried and carried by events, so it
#: stays small (``tether.HandshakeRejected.MAX_BODY`` is the same number).
MAX_REJECTION_BODY: Final = 4096


class HandshakeFailed(ConnectionError):
    """The server's answer was not a valid WebSocket acceptance (malformed HTTP, a bad
    ``Sec-WebSocket-Accept``, no ``Upgrade: websocket``). Retried like any connection
    error: the server may be mid-deploy."""


class UnofferedSelection(HandshakeFailed):
    """The server's 101 selected what the client did not offer: an extension, an
    extension parameter or value against the offer (RFC 7692 section 7.1 for
    permessage-deflate), or a subprotocol. Section 4.1: the client must fail the
    connection.
    The connection layer maps it to :class:`tether.IncompatibleServer`, not retried: the
    same server will select the same again."""


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status other than 101.

    Attributes: ``status_code`` (int), ``headers`` (lower-cased header name to value,
    both ``str``; of repeated headers the last is kept), ``body`` (``bytes``, at most
    :data:`MAX_REJECTION_BODY`, possibly empty), ``body_truncated`` (``True`` when the
    server sent more than ``body`` holds). Not a ``ConnectionError``: whether to retry is
    the status code's to say.
    """

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        body_truncated: bool = False,
    ) -> None:
        super().__init__(f"the server answered the upgrade with HTTP {status_code}")
        self.status_code = status_code
        self.headers = dict(headers)
        self.body = body
        self.body_truncated = body_truncated


@attrs.frozen
class Accepted:
    """The server switched protocols. ``headers``: its response headers, lower-case
    names; ``trailing``: bytes it sent after the response (already WebSocket frames);
    ``deflate``: the permessage-deflate agreement, ``None`` when the server declined the
    offer or none was made."""

    subprotocol: str | None
    headers: list[tuple[bytes, bytes]]
    trailing: bytes
    deflate: DeflateAgreement | None = None


def accept_token(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for ``key`` (section 4.2.2 step 5.4)."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def _ascii_host(host: str) -> bytes:
    """The ``Host`` header value: as written when ASCII, else IDNA (RFC 5891)."""
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna")


def _tokens(value: bytes) -> list[str]:
    return [token.strip().lower() for token in value.decode("latin-1").split(",")]


class ClientHandshake:
    """One opening handshake. :meth:`request` gives the bytes to send; feed what the
    server sends to :meth:`receive` until it returns :class:`Accepted` or raises.

    Raises from :meth:`receive`: :class:`HandshakeRefused` for a non-101 answer,
    :class:`HandshakeFailed` for an invalid one, ``ConnectionResetError`` when the server
    ends the stream (``receive(b"")``) before answering.
    """

    __slots__ = (
        "_body",
        "_body_truncated",
        "_deflate_offer",
        "_h11",
        "_key",
        "_rejection",
        "_request",
        "_subprotocols",
    )

    def __init__(
        self,
        *,
        host: str,
        resource: str,
        subprotocols: Sequence[str] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        deflate: DeflateOffer | None = None,
    ) -> None:
        self._key = base64.b64encode(os.urandom(16))
        self._deflate_offer = deflate
        self._subprotocols = tuple(subprotocols)
        self._h11 = h11.Connection(h11.CLIENT)
        self._rejection: h11.Response | None = None
        self._body = bytearray()
        self._body_truncated = False
        headers = [
            (b"Host", _ascii_host(host)),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", self._key),
            (b"Sec-WebSocket-Version", b"13"),
        ]
        if subprotocols:
            headers.append((b"Sec-WebSocket-Protocol", ", ".join(subprotocols).encode("ascii")))
        if deflate is not None:
            headers.append((b"Sec-WebSocket-Extensions", deflate.header_value()))
        headers.extend(extra_headers)
        self._request = h11.Request(method=b"GET", target=resource.encode("ascii"), headers=headers)

    def request(self) -> bytes:
        """The upgrade request (section 4.1)."""
        return self._h11.send(self._request) or b""

    def receive(self, data: bytes | bytearray) -> Accepted | None:
        """Take the server's next bytes (``b""``: it ended the stream). Returns
        :class:`Accepted` once the server switched protocols, ``None`` while more bytes
        are needed."""
        connection = self._h11
        connection.receive_data(bytes(data))
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as error:
                if self._rejection is not None:
                    raise self._rejected() from None  # the body ended early: keep what came
                if not data:
                    raise ConnectionResetError(
                        "the server closed the connection during the handshake"
                    ) from None
                raise HandshakeFailed(f"malformed HTTP response to the upgrade: {error}") from None
            if event is h11.NEED_DATA:
                # Never after b"": at the end of the stream h11 raises (handled above)
                # or ends the message (a body delimited by the close).
                return None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._accept(event)
                continue  # 100 Continue and the like: the answer is still to come
            if isinstance(event, h11.Response):
                self._rejection = event
            elif isinstance(event, h11.Data):
                # Keep MAX_REJECTION_BODY bytes; the first byte beyond them says the
                # body was cut, and ends the reading.
                room = MAX_REJECTION_BODY - len(self._body)
                self._body += event.data[:room]
                if len(event.data) > room:
                    self._body_truncated = True
                    raise self._rejected()
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or (
                event is h11.PAUSED
            ):
                if self._rejection is not None:
                    raise self._rejected()
                raise HandshakeFailed(f"unexpected HTTP event during the upgrade: {event!r}")

    def _rejected(self) -> HandshakeRefused:
        response = self._rejection
        assert response is not None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in response.headers
        }
        return HandshakeRefused(
            response.status_code,
            headers,
            bytes(self._body),
            body_truncated=self._body_truncated,
        )

    def _accept(self, response: h11.InformationalResponse) -> Accepted:
        fields: dict[bytes, bytes] = {}
        extensions: list[str] = []
        for name, value in response.headers:
            fields[name.lower()] = value
            if name.lower() == b"sec-websocket-extensions":
                extensions.append(value.decode("latin-1"))
        if "websocket" not in _tokens(fields.get(b"upgrade", b"")):
            raise HandshakeFailed("101 response without 'Upgrade: websocket'")
        if "upgrade" not in _tokens(fields.get(b"connection", b"")):
            raise HandshakeFailed("101 response without 'Connection: Upgrade'")
        if fields.get(b"sec-websocket-accept") != accept_token(self._key):
            raise HandshakeFailed("101 response with a wrong Sec-WebSocket-Accept")
        deflate: DeflateAgreement | None = None
        if extensions:
            chosen = ", ".join(extensions)
            offer = self._deflate_offer
            if offer is None:
                raise UnofferedSelection(
                    f"the server selected extension {chosen!r}, which the client did not "
                    f"offer (compression is off; RFC 6455 section 4.1: fail the connection)"
                )
            try:
                deflate = negotiate(offer, chosen)
            except ExtensionAnswerError as error:
                raise UnofferedSelection(
                    f"the server's Sec-WebSocket-Extensions {chosen!r} is not a valid "
                    f"answer to the offer {offer.header_value().decode()!r}: {error}"
                ) from None
        subprotocol: str | None = None
        if b"sec-websocket-protocol" in fields:
            subprotocol = fields[b"sec-websocket-protocol"].decode("latin-1").strip()
            if subprotocol not in self._subprotocols:
                offered = ", ".join(map(repr, self._subprotocols)) or "none"
                raise UnofferedSelection(
                    f"the server selected subprotocol {subprotocol!r}, which the client did "
                    f"not offer (offered: {offered}; RFC 6455 section 4.1: fail the connection)"
                )
        trailing, _ = self._h11.trailing_data
        return Accepted(
            subprotocol, [(n.lower(), v) for n, v in response.headers], trailing, deflate
        )
