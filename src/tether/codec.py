"""Message codecs: turn application objects into WebSocket messages and back.

A codec is any object with ``encode(obj) -> str | bytes`` and ``decode(raw) -> obj``;
``decode`` raises :class:`tether.DecodeError` (carrying ``raw``) when it cannot. Pass one
to ``tether.connect(..., codec=...)`` and ``send()``/``receive()`` speak objects.
"""

from __future__ import annotations

import json
from typing import Any, Generic, Protocol, TypeVar

import cattrs

from .exceptions import DecodeError

__all__ = ["Codec", "JsonCodec"]

T = TypeVar("T")


class Codec(Protocol):
    """What ``connect(codec=...)`` accepts."""

    def encode(self, obj: Any) -> str | bytes: ...

    def decode(self, raw: str | bytes) -> Any: ...


class JsonCodec(Generic[T]):
    """JSON text messages, (un)structured with cattrs.

    ``JsonCodec()`` sends and receives plain JSON values (dicts, lists ...).
    ``JsonCodec(Ticker)`` structures every inbound message into the attrs class or
    dataclass ``Ticker`` and unstructures outbound ones, with ``converter`` (default: a
    new ``cattrs.Converter()``). A message that is not valid JSON, or does not fit the
    type, raises :class:`tether.DecodeError` from ``receive()``, with the message in
    ``raw``; the session goes on.
    """

    def __init__(self, type: type[T] | None = None, *, converter: cattrs.Converter | None = None):
        self._type = type
        self._converter = converter or cattrs.Converter()

    def encode(self, obj: Any) -> str:
        return json.dumps(self._converter.unstructure(obj), separators=(",", ":"))

    def decode(self, raw: str | bytes) -> Any:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"not JSON: {exc}", raw) from exc
        if self._type is None:
            return value
        try:
            return self._converter.structure(value, self._type)
        except Exception as exc:
            raise DecodeError(f"does not fit {self._type.__name__}: {exc}", raw) from exc
