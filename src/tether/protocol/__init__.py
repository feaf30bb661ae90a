"""The sans-I/O WebSocket protocol (RFC 6455): frames, close codes and the client's
opening handshake. Bytes in, events and bytes out; no sockets, no tasks, no clock.

This layer imports no trio and nothing of tether above it (an import-linter contract in
``pyproject.toml`` holds it). The connection layer (:mod:`tether.connection`) drives it.
"""

from ._frames import (
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    Close,
    FrameParser,
    Inbound,
    Ping,
    Pong,
    ProtocolViolation,
    close_payload,
    encode_control,
    encode_frame,
    encode_frame_split,
    fit_close_reason,
)
from ._handshake import Accepted, ClientHandshake, HandshakeFailed, accept_token

__all__ = [
    "OPCODE_CLOSE",
    "OPCODE_PING",
    "OPCODE_PONG",
    "Accepted",
    "ClientHandshake",
    "Close",
    "FrameParser",
    "HandshakeFailed",
    "Inbound",
    "Ping",
    "Pong",
    "ProtocolViolation",
    "accept_token",
    "close_payload",
    "encode_control",
    "encode_frame",
    "encode_frame_split",
    "fit_close_reason",
]
