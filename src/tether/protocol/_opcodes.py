"""Frame opcodes (RFC 6455 section 5.2) and the control frame size limit (section 5.5),
shared by the encoder, the close payloads and the parser."""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "OPCODE_BINARY",
    "OPCODE_CLOSE",
    "OPCODE_CONTINUATION",
    "OPCODE_PING",
    "OPCODE_PONG",
    "OPCODE_TEXT",
]

OPCODE_CONTINUATION: Final = 0x0
OPCODE_TEXT: Final = 0x1
OPCODE_BINARY: Final = 0x2
OPCODE_CLOSE: Final = 0x8
OPCODE_PING: Final = 0x9
OPCODE_PONG: Final = 0xA

#: Section 5.5: control frames carry at most 125 payload bytes.
MAX_CONTROL_PAYLOAD: Final = 125
