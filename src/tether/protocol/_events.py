"""What :class:`~tether.protocol.FrameParser` yields (messages and control frames) and
raises (:class:`ProtocolViolation`). Section numbers are RFC 6455's."""

from __future__ import annotations

__all__ = ["Close", "Inbound", "Ping", "Pong", "ProtocolViolation"]


class Ping:
    """A Ping frame from the server (section 5.5.2); it must be answered with a Pong."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Pong:
    """A Pong frame from the server (section 5.5.3)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Close:
    """A Close frame from the server (section 5.5.1): its status code (1005 when the
    frame had none) and reason text."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


#: What :meth:`FrameParser.feed` yields: a complete text (``str``) or binary (``bytes``)
#: message, or a control frame.
Inbound = str | bytes | Ping | Pong | Close


class ProtocolViolation(Exception):
    """The server broke RFC 6455; the connection must be failed with ``code``
    (1002 protocol error, 1007 invalid payload data, 1009 message too big)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        #: What the same :meth:`FrameParser.feed` call completed before the bad frame:
        #: to be delivered, then the connection failed.
        self.completed: list[Inbound] = []
