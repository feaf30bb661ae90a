"""permessage-deflate (RFC 7692): the client's offer, the validation of the server's
answer (section 7.1), and the compressor and decompressor of messages (section 7.2).
zlib from the standard library does the deflating; this module decides when, with which
window, and keeps zlib's state only while a context is taken over.

Section numbers below are RFC 7692's.
"""

from __future__ import annotations

import re
import zlib
from typing import Final

import attrs

from ._close import MESSAGE_TOO_BIG, PROTOCOL_ERROR
from ._events import ProtocolViolation

__all__ = [
    "EXTENSION_NAME",
    "DeflateAgreement",
    "DeflateOffer",
    "Deflater",
    "ExtensionAnswerError",
    "Inflater",
    "negotiate",
]

EXTENSION_NAME: Final = "permessage-deflate"
#: Section 7.2.1: the four octets a sync flush ends with, removed from each message's
#: compressed payload and put back (section 7.2.2) before inflating its end.
_SYNC_FLUSH_TAIL: Final = b"\x00\x00\xff\xff"
#: Section 7.1.2.1: "a decimal integer value without leading zeroes between 8 and 15".
_WINDOW_BITS_VALUE: Final = re.compile(r"[1-9][0-9]?")
#: A token (RFC 7230 section 3.2.6), what extension and parameter names must be.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: zlib cannot compress with an 8-bit window (it rejects ``wbits=-8``; madler/zlib
#: issue 171): a server that limits the client to 8 bits gets uncompressed messages.
_SMALLEST_COMPRESSOR_WINDOW: Final = 9


class ExtensionAnswerError(ValueError):
    """The server's ``Sec-WebSocket-Extensions`` answer is malformed, names what was not
    offered, or sets a parameter against section 7.1. The handshake fails (fatal: the
    same server answers the same way again)."""


@attrs.frozen(kw_only=True)
class DeflateOffer:
    """What the client offers and how it compresses (sections 7.1.1 and 7.1.2).

    Attributes:
        client_max_window_bits: base-2 logarithm of the client's LZ77 window, 9-15
            (default 12: 4 KiB of history, about 32 KiB of zlib state while a context is
            kept); ``client_max_window_bits`` is offered (section 7.1.2.2) so the server
            may ask for less.
        server_max_window_bits: asked of the server for its window, 8-15, or ``None``
            (default) not to ask: the server then uses up to 15 bits (32 KiB). A server
            that cannot honour it declines compression (section 7.1.2.1).
        client_no_context_takeover: compress each message on its own (default ``False``);
            less memory, a worse ratio for a stream of similar messages.
        server_no_context_takeover: ask the server to do the same (default ``False``).
        compression_level: zlib level, 0-9 (default 6, zlib's own default).
        memory_level: zlib ``memLevel``, 1-9 (default 5, as ``websockets``; zlib's 8
            costs 64 KiB more per compressing connection).
        min_size: messages shorter than this many bytes (UTF-8 for text) are sent
            uncompressed (default 32: a deflate block's overhead makes them no smaller).
    """

    client_max_window_bits: int = 12
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    compression_level: int = 6
    memory_level: int = 5
    min_size: int = 32

    def header_value(self) -> bytes:
        """The ``Sec-WebSocket-Extensions`` value of this offer (section 7.1)."""
        parameters = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parameters.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parameters.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parameters.append(f"server_max_window_bits={self.server_max_window_bits}")
        # Offered without a value, as websockets and ws do: the server may then name any
        # window, and the client compresses with the smaller of it and its own (a
        # smaller LZ77 window is always within the agreed one). With a value, servers
        # such as Autobahn's answer above it anyway.
        parameters.append("client_max_window_bits")
        return "; ".join(parameters).encode("ascii")


@attrs.frozen(kw_only=True)
class DeflateAgreement:
    """What the server's answer agreed (section 7.1), with the offer's own settings.

    ``client_max_window_bits`` is the window the client compresses with (the offer's or
    the smaller one the server asked for; 8 means the client sends nothing compressed);
    ``server_max_window_bits`` the window the server compresses with (15 when it did not
    say), which the decompressor uses.
    """

    offer: DeflateOffer
    client_no_context_takeover: bool
    server_no_context_takeover: bool
    client_max_window_bits: int
    server_max_window_bits: int

    def deflater(self) -> Deflater:
        """The compressor for this connection's outbound messages."""
        offer = self.offer
        return Deflater(
            window_bits=self.client_max_window_bits,
            keep_context=not self.client_no_context_takeover,
            compression_level=offer.compression_level,
            memory_level=offer.memory_level,
            min_size=offer.min_size,
        )

    def inflater(self) -> Inflater:
        """The decompressor for this connection's inbound messages."""
        return Inflater(
            window_bits=self.server_max_window_bits,
            keep_context=not self.server_no_context_takeover,
        )


def _split_parameters(value: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse an extension list (RFC 6455 section 9.1): ``[(name, [(param, value)])]``.
    Values may be quoted strings; names are lower-cased."""
    extensions: list[tuple[str, list[tuple[str, str | None]]]] = []
    for item in value.split(","):
        if not item.strip():
            continue  # RFC 7230 section 7: empty list elements are allowed and ignored
        name, *raw_parameters = (part.strip() for part in item.split(";"))
        if not _TOKEN.fullmatch(name):
            raise ExtensionAnswerError(f"malformed extension {item.strip()!r}")
        parameters: list[tuple[str, str | None]] = []
        for raw in raw_parameters:
            key, equals, raw_value = (part.strip() for part in raw.partition("="))
            parameter_value: str | None = None
            if equals:
                if len(raw_value) >= 2 and raw_value[0] == raw_value[-1] == '"':
                    raw_value = raw_value[1:-1]
                if not _TOKEN.fullmatch(raw_value):
                    raise ExtensionAnswerError(f"malformed parameter {raw!r} in {name!r}")
                parameter_value = raw_value
            if not _TOKEN.fullmatch(key):
                raise ExtensionAnswerError(f"malformed parameter {raw!r} in {name!r}")
            parameters.append((key.lower(), parameter_value))
        extensions.append((name.lower(), parameters))
    return extensions


def _window_bits(name: str, value: str | None, smallest: int) -> int:
    if (
        value is None
        or not _WINDOW_BITS_VALUE.fullmatch(value)
        or not (smallest <= int(value) <= 15)
    ):
        raise ExtensionAnswerError(
            f"{name}={value} is not an integer from {smallest} to 15 (RFC 7692 section 7.1.2)"
        )
    return int(value)


def negotiate(offer: DeflateOffer, answer: str) -> DeflateAgreement:
    """Validate the server's ``Sec-WebSocket-Extensions`` ``answer`` (all its header
    fields joined with ``,``) against ``offer`` (section 7.1). Returns the agreement.

    Raises :class:`ExtensionAnswerError` when the answer names another extension or
    permessage-deflate twice, repeats or misspells a parameter, gives a parameter a value
    it may not have (``client_max_window_bits`` needs one, 8-15), or answers a
    ``server_max_window_bits`` above what was asked or omits one that was asked, or omits
    ``server_no_context_takeover`` that was asked (sections 7.1.1.1 and 7.1.2.1: the
    server must then decline, not accept without it).
    """
    extensions = _split_parameters(answer)
    if not extensions:
        raise ExtensionAnswerError("an empty Sec-WebSocket-Extensions answer")
    names = [name for name, _ in extensions]
    if names != [EXTENSION_NAME]:
        unoffered = [name for name in names if name != EXTENSION_NAME]
        if unoffered:
            raise ExtensionAnswerError(
                f"the server selected extension {unoffered[0]!r}, which was not offered "
                f"(offered: {EXTENSION_NAME})"
            )
        raise ExtensionAnswerError(f"the server selected {EXTENSION_NAME} more than once")
    seen: set[str] = set()
    server_no_context_takeover = False
    client_no_context_takeover = offer.client_no_context_takeover
    server_bits = 15
    client_bits = offer.client_max_window_bits
    for key, value in extensions[0][1]:
        if key in seen:
            raise ExtensionAnswerError(f"parameter {key} appears twice in the answer")
        seen.add(key)
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise ExtensionAnswerError(f"{key} takes no value, got {key}={value}")
            if key == "server_no_context_takeover":
                server_no_context_takeover = True
            else:
                client_no_context_takeover = True  # section 7.1.1.2: the server may ask
        elif key == "server_max_window_bits":
            server_bits = _window_bits(key, value, 8)
            asked = offer.server_max_window_bits
            if asked is not None and server_bits > asked:
                raise ExtensionAnswerError(
                    f"server_max_window_bits={server_bits} is above the {asked} asked"
                )
        elif key == "client_max_window_bits":
            client_bits = min(client_bits, _window_bits(key, value, 8))
        else:
            raise ExtensionAnswerError(f"unknown permessage-deflate parameter {key!r}")
    if offer.server_max_window_bits is not None and "server_max_window_bits" not in seen:
        raise ExtensionAnswerError(
            f"the answer omits the server_max_window_bits={offer.server_max_window_bits} "
            f"asked (RFC 7692 section 7.1.2.1: decline, or accept it)"
        )
    if offer.server_no_context_takeover and not server_no_context_takeover:
        raise ExtensionAnswerError(
            "the answer omits the server_no_context_takeover asked "
            "(RFC 7692 section 7.1.1.1: decline, or accept it)"
        )
    return DeflateAgreement(
        offer=offer,
        client_no_context_takeover=client_no_context_takeover,
        server_no_context_takeover=server_no_context_takeover,
        client_max_window_bits=client_bits,
        server_max_window_bits=server_bits,
    )


class Deflater:
    """Compresses outbound message payloads (section 7.2.1). zlib's state is made on
    the first message that is compressed and, without context takeover, dropped after
    each one, so a connection that sends nothing (or only small messages) holds none."""

    __slots__ = (
        "_compressor",
        "_keep_context",
        "_level",
        "_memory_level",
        "_window_bits",
        "min_size",
        "saved",
    )

    def __init__(
        self,
        *,
        window_bits: int,
        keep_context: bool,
        compression_level: int,
        memory_level: int,
        min_size: int,
    ) -> None:
        self._window_bits = window_bits
        self._keep_context = keep_context
        self._level = compression_level
        self._memory_level = memory_level
        self._compressor: zlib._Compress | None = None
        #: Bytes compression took off the payloads so far (negative if it added some).
        self.saved = 0
        #: Payloads shorter than this are sent uncompressed; above every size when the
        #: agreed window is one zlib cannot compress with (8 bits).
        self.min_size = min_size if window_bits >= _SMALLEST_COMPRESSOR_WINDOW else 2**63

    @property
    def holds_state(self) -> bool:
        """zlib's compressor is allocated (a context is being kept)."""
        return self._compressor is not None

    def compress(self, payload: bytes) -> bytes:
        """``payload`` compressed as one message: deflate, sync flush, the final four
        octets removed (section 7.2.1). Call only for payloads of at least
        :attr:`min_size` bytes (the others are sent as they are, RSV1 clear)."""
        compressor = self._compressor
        if compressor is None:
            compressor = zlib.compressobj(
                self._level, zlib.DEFLATED, -self._window_bits, self._memory_level
            )
            if self._keep_context:
                self._compressor = compressor
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        # A sync flush always ends with the empty stored block's 00 00 FF FF.
        self.saved += len(payload) - len(data) + 4
        return data[:-4]


class Inflater:
    """Decompresses inbound compressed messages (section 7.2.2), bounded: never more
    output than the caller's budget plus one byte, so a deflate bomb is refused after
    at most ``max_message_size`` bytes of output. zlib's state is made on the first
    compressed message and, without context takeover, dropped after each one."""

    __slots__ = ("_decompressor", "_keep_context", "_window_bits", "added")

    def __init__(self, *, window_bits: int, keep_context: bool) -> None:
        #: Bytes inflating added to the payloads so far (output minus input).
        self.added = 0
        self._window_bits = window_bits
        self._keep_context = keep_context
        self._decompressor: zlib._Decompress | None = None

    @property
    def holds_state(self) -> bool:
        """zlib's decompressor is allocated (a context is being kept or a message is
        being inflated)."""
        return self._decompressor is not None

    def inflate(self, data: bytes, budget: int, *, end: bool) -> bytes:
        """Inflate the next compressed bytes of a message; ``end``: they are its last
        (the sync-flush tail is appended, and without context takeover the state is
        dropped afterwards). Raises :class:`ProtocolViolation`: 1009 when the output
        would exceed ``budget`` bytes (only ``budget + 1`` are ever produced), 1002 when
        the data is not valid deflate."""
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(-self._window_bits)
        self.added -= len(data)
        if end:
            data += _SYNC_FLUSH_TAIL
        try:
            output = decompressor.decompress(data, budget + 1)
        except zlib.error as error:
            self._decompressor = None
            raise ProtocolViolation(PROTOCOL_ERROR, f"invalid compressed data: {error}") from None
        if len(output) > budget:
            self._decompressor = None
            raise ProtocolViolation(
                MESSAGE_TOO_BIG, "a compressed message inflates beyond max_message_size"
            )
        self.added += len(output)
        if end and (not self._keep_context or decompressor.eof):
            # A final deflate block (BFINAL) ends zlib's stream: the next message
            # starts a new one either way.
            self._decompressor = None
        return output
