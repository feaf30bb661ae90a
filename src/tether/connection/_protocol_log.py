"""What the ``tether.protocol`` logger records of one connection, at DEBUG: the opening
handshake (request line, header names, the status of the answer) and one line per frame
sent (``>``) and received (``<``): opcode, payload length, FIN and RSV bits. Payloads
are never in these records.

Opt-in payloads: the ``tether.protocol.payloads`` logger, when its own level is set to
DEBUG (``logging.getLogger("tether.protocol.payloads").setLevel(logging.DEBUG)``; a level
inherited from ``tether`` or the root does not count, so ``-vv`` or a DEBUG root shows no
payload), records the first :data:`MAX_LOG_PAYLOAD` bytes of each frame's
payload, unmasked, as ``repr``. A payload is the application's data and may hold a
secret: turn it on only where that is acceptable.

Handshake header *values* are never logged, only names, so ``Authorization``,
``Cookie`` and ``Proxy-Authorization`` cannot leak; the request line carries the
resource only (no userinfo: credentials in a URL become an ``Authorization`` header),
and its query is shown redacted by :func:`tether.policy.redact_url`'s rules.

Cost: :func:`protocol_log` checks ``isEnabledFor(DEBUG)`` once per connection and
returns ``None`` when it is off; the connection layer's hooks are then one ``is None``
test per read and per write. Enabling the logger takes effect from the next connection.

Every record carries ``record.generation`` (``extra``), as the ``tether`` logger's do.
Frames are found by a header scanner over the bytes written and read, independent of
the parser, so a frame split over several reads is logged once, when its header is
complete.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping

from ..policy import redact_url

__all__ = [
    "MAX_LOG_PAYLOAD",
    "PAYLOAD_LOGGER",
    "PROTOCOL_LOGGER",
    "FrameScanner",
    "ProtocolLog",
    "payloads_enabled",
    "protocol_log",
]

#: The protocol logger (child of ``tether``, which has a ``NullHandler``).
PROTOCOL_LOGGER = logging.getLogger("tether.protocol")
#: The opt-in payload logger (DEBUG): payloads cut to :data:`MAX_LOG_PAYLOAD` bytes.
PAYLOAD_LOGGER = logging.getLogger("tether.protocol.payloads")
#: Bytes of a payload shown by :data:`PAYLOAD_LOGGER` (websockets' ``MAX_LOG_SIZE``: 75).
MAX_LOG_PAYLOAD = 75

_OPCODES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


class FrameScanner:
    """Finds RFC 6455 frame headers (section 5.2) in a byte stream fed in pieces.

    :meth:`feed` returns ``(opcode, fin, rsv, length, payload_head)`` for each frame whose
    header completed in that piece; ``payload_head`` is the first ``keep`` bytes of the
    payload (unmasked) when ``keep`` > 0, else ``b""`` (and then only when the payload
    bytes arrived in the same piece as the header)."""

    __slots__ = ("_buffer", "_keep", "_skip")

    def __init__(self, keep: int = 0) -> None:
        self._buffer = b""
        self._skip = 0  # payload bytes of the current frame still to pass over
        self._keep = keep

    def feed(self, data: bytes | bytearray) -> list[tuple[int, bool, int, int, bytes]]:
        frames: list[tuple[int, bool, int, int, bytes]] = []
        view = memoryview(data)
        if self._skip:
            step = min(self._skip, len(view))
            self._skip -= step
            view = view[step:]
        buffer = self._buffer + bytes(view)
        position = 0
        while True:
            header = _header(buffer, position)
            if header is None:
                break
            opcode, fin, rsv, length, mask, start = header
            head = b""
            if self._keep:
                raw = buffer[start : start + min(length, self._keep)]
                head = _unmask(raw, mask) if mask else raw
            frames.append((opcode, fin, rsv, length, head))
            end = start + length
            if end > len(buffer):
                self._skip = end - len(buffer)
                position = len(buffer)
                break
            position = end
        self._buffer = buffer[position:]
        return frames


def _header(data: bytes, at: int) -> tuple[int, bool, int, int, bytes, int] | None:
    if len(data) - at < 2:
        return None
    first, second = data[at], data[at + 1]
    length = second & 0x7F
    position = at + 2
    if length == 126:
        if len(data) - position < 2:
            return None
        (length,) = struct.unpack_from("!H", data, position)
        position += 2
    elif length == 127:
        if len(data) - position < 8:
            return None
        (length,) = struct.unpack_from("!Q", data, position)
        position += 8
    mask = b""
    if second & 0x80:
        if len(data) - position < 4:
            return None
        mask = data[position : position + 4]
        position += 4
    return first & 0x0F, bool(first & 0x80), (first >> 4) & 0x07, length, mask, position


def _unmask(raw: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(raw))


def _redacted_resource(target: str) -> str:
    if "?" not in target:
        return target
    shown = redact_url(f"ws://h{target}")
    return shown[len("ws://h") :]


class ProtocolLog:
    """The protocol records of one connection (generation ``generation``)."""

    __slots__ = ("_extra", "_payloads", "_received", "_sent")

    def __init__(self, generation: int) -> None:
        self._extra = {"generation": generation}
        self._payloads = payloads_enabled()
        keep = MAX_LOG_PAYLOAD if self._payloads else 0
        self._sent = FrameScanner(keep)
        self._received = FrameScanner(keep)

    def request(self, raw: bytes) -> None:
        """The upgrade request ``raw`` (bytes as written): its request line and header
        names."""
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        target, _, version = rest.rpartition(" ")
        names = [line.partition(":")[0] for line in head[1:] if line]
        PROTOCOL_LOGGER.debug(
            "> %s %s %s; headers: %s",
            method,
            _redacted_resource(target),
            version,
            ", ".join(names),
            extra=self._extra,
        )

    def response(
        self, headers: Iterable[tuple[bytes, bytes]] | Mapping[str, str], status: int = 101
    ) -> None:
        """The server's answer: its status and header names."""
        names = ", ".join(
            name.decode("latin-1") if isinstance(name, bytes) else name for name in _names(headers)
        )
        PROTOCOL_LOGGER.debug("< HTTP/1.1 %d; headers: %s", status, names, extra=self._extra)

    def sent(self, data: bytes | bytearray) -> None:
        """Bytes written to the stream (whole frames or parts of them)."""
        self._frames(">", self._sent.feed(data))

    def received(self, data: bytes | bytearray) -> None:
        """Bytes read from the stream after the handshake."""
        self._frames("<", self._received.feed(data))

    def _frames(self, arrow: str, frames: list[tuple[int, bool, int, int, bytes]]) -> None:
        for opcode, fin, rsv, length, head in frames:
            PROTOCOL_LOGGER.debug(
                "%s %s length=%d fin=%d rsv=%d%d%d",
                arrow,
                _OPCODES.get(opcode, f"0x{opcode:x}"),
                length,
                fin,
                rsv >> 2 & 1,
                rsv >> 1 & 1,
                rsv & 1,
                extra=self._extra,
            )
            if self._payloads:
                cut = "..." if length > len(head) else ""
                PAYLOAD_LOGGER.debug("%s %r%s", arrow, head, cut, extra=self._extra)


def payloads_enabled() -> bool:
    """Whether payloads are asked for: the payload logger's own level is DEBUG (or
    lower but set) and it is enabled."""
    level = PAYLOAD_LOGGER.level
    return level != logging.NOTSET and level <= logging.DEBUG and not PAYLOAD_LOGGER.disabled


def _names(headers: Iterable[tuple[bytes, bytes]] | Mapping[str, str]) -> list[bytes | str]:
    if isinstance(headers, Mapping):
        return list(headers)
    return [name for name, _ in headers]


def protocol_log(generation: int) -> ProtocolLog | None:
    """A :class:`ProtocolLog` for a connection of ``generation`` if ``tether.protocol``
    is enabled for DEBUG, else ``None`` (the one check per connection)."""
    if PROTOCOL_LOGGER.isEnabledFor(logging.DEBUG):
        return ProtocolLog(generation)
    return None
