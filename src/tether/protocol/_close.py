"""Close codes and Close frame payloads (RFC 6455 sections 5.5.1 and 7.4): building
the payload of our Close, and reading the server's."""

from __future__ import annotations

from typing import Final

from ._events import Close, ProtocolViolation
from ._opcodes import MAX_CONTROL_PAYLOAD

__all__ = [
    "INVALID_PAYLOAD",
    "MESSAGE_TOO_BIG",
    "NO_STATUS_RECEIVED",
    "PROTOCOL_ERROR",
    "close_payload",
    "fit_close_reason",
    "parse_close",
]

#: Close codes a peer may put on the wire (section 7.4.1 and the IANA registry: 1012
#: Service Restart, 1013 Try Again Later, 1014 Bad Gateway); 3000-4999 are for
#: libraries and applications. 1004-1006 and 1015 must never be sent.
_VALID_CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
#: Section 7.1.5: a Close frame without a status code is reported as 1005.
NO_STATUS_RECEIVED: Final = 1005
PROTOCOL_ERROR: Final = 1002
INVALID_PAYLOAD: Final = 1007
MESSAGE_TOO_BIG: Final = 1009


def fit_close_reason(reason: str) -> str:
    """``reason`` cut at a character boundary to the 123 UTF-8 bytes a Close frame has
    room for (section 5.5: 125 bytes, 2 of them the code); characters UTF-8 cannot
    encode (lone surrogates) become ``?``."""
    encoded = reason.encode("utf-8", errors="replace")[: MAX_CONTROL_PAYLOAD - 2]
    return encoded.decode("utf-8", errors="ignore")


def close_payload(code: int, reason: str) -> bytes:
    """The body of a Close frame (section 5.5.1): the code, then the reason in UTF-8
    (:func:`fit_close_reason`)."""
    return code.to_bytes(2, "big") + fit_close_reason(reason).encode("utf-8")


def parse_close(payload: bytes) -> Close:
    """The server's Close frame from its payload. Raises :class:`ProtocolViolation` for
    a 1-byte payload or a code that may not be sent (1002), or a reason that is not
    UTF-8 (1007)."""
    if not payload:
        return Close(NO_STATUS_RECEIVED, "")
    if len(payload) == 1:
        raise ProtocolViolation(PROTOCOL_ERROR, "Close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise ProtocolViolation(PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation(INVALID_PAYLOAD, "Close reason is not UTF-8") from None
    return Close(code, reason)
