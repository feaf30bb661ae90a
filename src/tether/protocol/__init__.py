"""The sans-I/O WebSocket protocol (RFC 6455): frames, close codes and the client's
opening handshake. Bytes in, events and bytes out; no sockets, no tasks, no clock.

This layer imports the standard library, attrs and h11 only: no trio and nothing of
tether above it. It reports a refused handshake with its own :class:`HandshakeRefused`;
the connection layer (:mod:`tether.connection`), which drives it, maps that to
:class:`tether.HandshakeRejected`.

Modules: ``_opcodes`` (opcodes, control frame limit), ``_masking`` (section 5.3, and
which implementation runs: ``_masking.speedups``), ``_encoder`` (client frames),
``_events`` (what the parser yields and raises), ``_close`` (close codes and payloads),
``_deflate`` (permessage-deflate, RFC 7692: the offer, the answer's validation, the
compressor and the decompressor),
``_parser`` (:class:`FrameParser`), ``_handshake`` (:class:`ClientHandshake`).
"""

from ._close import close_payload, fit_close_reason
from ._deflate import DeflateAgreement, DeflateOffer, Deflater, Inflater
from ._encoder import encode_control, encode_frame, encode_frame_split
from ._events import Close, Inbound, Ping, Pong, ProtocolViolation
from ._handshake import (
    Accepted,
    ClientHandshake,
    HandshakeFailed,
    HandshakeRefused,
    UnofferedSelection,
    accept_token,
)
from ._opcodes import OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG
from ._parser import FrameParser

__all__ = [
    "OPCODE_CLOSE",
    "OPCODE_PING",
    "OPCODE_PONG",
    "Accepted",
    "ClientHandshake",
    "Close",
    "DeflateAgreement",
    "DeflateOffer",
    "Deflater",
    "FrameParser",
    "HandshakeFailed",
    "HandshakeRefused",
    "Inbound",
    "Inflater",
    "Ping",
    "Pong",
    "ProtocolViolation",
    "UnofferedSelection",
    "accept_token",
    "close_payload",
    "encode_control",
    "encode_frame",
    "encode_frame_split",
    "fit_close_reason",
]
