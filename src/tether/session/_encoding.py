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
        """The message as it goes on the wire, checked in the caller's task so that a bad
        one fails that caller alone, never the writer task or the messages queued behind
        it.

        Raises ``TypeError`` if the result is not ``str``/``bytes``;
        ``UnicodeEncodeError`` (a ``ValueError``) for a ``str`` that UTF-8 cannot encode
        (a lone surrogate such as ``"\\ud83d"``; RFC 6455 section 5.6: text frames carry
        UTF-8); whatever the codec raises propagates."""
        if self.codec is not None:
            message = self.codec.encode(message)
        if isinstance(message, str):
            if not message.isascii():  # ASCII is valid UTF-8: no encode on the hot path
                message.encode("utf-8")
            return message
        if not isinstance(message, bytes):
            raise TypeError(f"a message must be str or bytes, got {type(message).__name__}")
        return message

    def decode(self, raw: Message) -> Any:
        """Raises what the codec raises (:class:`tether.DecodeError` for the built-in)."""
        return raw if self.codec is None else self.codec.decode(raw)
