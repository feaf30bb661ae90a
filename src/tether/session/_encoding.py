"""Messages between the application and the wire: the session's codec, if any, turns
application values into ``str``/``bytes`` and back."""

from __future__ import annotations

from typing import Any

from ..codec import Codec
from ._buffers import Message

__all__ = ["MessageEncoding"]


class MessageEncoding:
    """``encode``/``decode`` through ``codec`` (``None``: messages are ``str``/``bytes``
    as they are)."""

    __slots__ = ("codec",)

    def __init__(self, codec: Codec | None) -> None:
        self.codec = codec

    def encode(self, message: Any) -> Message:
        """Raises ``TypeError`` if the result is not ``str``/``bytes``; whatever the
        codec raises propagates."""
        if self.codec is not None:
            message = self.codec.encode(message)
        if not isinstance(message, (str, bytes)):
            raise TypeError(f"a message must be str or bytes, got {type(message).__name__}")
        return message

    def decode(self, raw: Message) -> Any:
        """Raises what the codec raises (:class:`tether.DecodeError` for the built-in)."""
        return raw if self.codec is None else self.codec.decode(raw)
