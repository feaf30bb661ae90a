"""Message codecs: turn application objects into WebSocket messages and back.

A codec is any object with ``encode(obj) -> str | bytes`` and ``decode(raw) -> obj``;
``decode`` raises :class:`tether.DecodeError` (carrying ``raw``) when it cannot. Pass one
to ``tether.connect(..., codec=...)`` and ``send()``/``receive()`` speak objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import cattrs

from .exceptions import DecodeError

__all__ = ["Codec", "JsonCodec"]

T = TypeVar("T")


def _fast_loads() -> Callable[[str | bytes], Any] | None:
    """``msgspec.json.decode`` when msgspec is installed (the ``speedups`` extra), else
    ``None``."""
    try:
        import msgspec
    except ImportError:
        return None
    loads: Callable[[str | bytes], Any] = msgspec.json.decode
    return loads


def _loads_with(fast: Callable[[str | bytes], Any] | None) -> Callable[[str | bytes], Any]:
    """A ``json.loads`` with identical results and errors, through ``fast`` where it can.

    ``fast`` (msgspec, which like ``json`` keeps integers of any size as ``int``) answers
    the messages both libraries read alike. Input it refuses is never answered by it: on
    its ``ValueError`` or ``RecursionError`` (``NaN``, ``1e400``, a lone surrogate,
    invalid UTF-8, a UTF-8 BOM, deep nesting ...) the message goes to ``json.loads``,
    which accepts it or raises its own error, message and all.
    """
    if fast is None:
        return json.loads

    def loads(raw: str | bytes) -> Any:
        try:
            return fast(raw)
        except (ValueError, RecursionError):
            return json.loads(raw)

    return loads


class Codec(Protocol):
    """What ``connect(codec=...)`` accepts: any object with these two methods (checked
    at ``connect()``: ``ConfigError`` when one is missing or not callable)."""

    def encode(self, obj: Any) -> str | bytes:
        """The message for ``obj``: ``str`` is sent as a text frame, ``bytes`` as a
        binary one. Called by ``send()``/``send_nowait()`` in the caller's task, before
        buffering; what it raises propagates from that call, and nothing is sent."""
        ...

    def decode(self, raw: str | bytes) -> Any:
        """The application's value for the message ``raw`` (``str`` for a text frame,
        ``bytes`` for a binary one). Called by ``receive()``; raise
        :class:`tether.DecodeError` (with ``raw``) for a message it cannot read: the
        message is consumed and the session goes on."""
        ...


class JsonCodec(Generic[T]):
    """JSON text messages, (un)structured with cattrs.

    ``JsonCodec()`` sends and receives plain JSON values (dicts, lists ...).
    ``JsonCodec(Ticker)`` structures every inbound message into the attrs class or
    dataclass ``Ticker`` and unstructures outbound ones, with ``converter`` (default: a
    new ``cattrs.Converter()``). A message that is not valid JSON, or does not fit the
    type, raises :class:`tether.DecodeError` from ``receive()``, with the message in
    ``raw``; the session goes on.

    With msgspec installed (``pip install 'trio-tether[speedups]'``) messages are parsed
    by ``msgspec.json.decode``, with the same values and the same errors as
    ``json.loads`` (what msgspec refuses goes to ``json``). orjson was not chosen: it
    turns an integer beyond 64 bits into a float. The converter is unchanged: the
    preconfigured ``cattrs.preconf`` converters (un)structure datetimes, bytes and
    mappings differently from ``cattrs.Converter()``. ``encode`` stays ``json.dumps``
    (``NaN``, non-ASCII escaping and non-string keys as before).
    """

    def __init__(self, type: type[T] | None = None, *, converter: cattrs.Converter | None = None):
        self._type = type
        self._converter = converter or cattrs.Converter()
        self._loads = _loads_with(_fast_loads())

    def encode(self, obj: Any) -> str:
        """``obj`` unstructured by the converter, as compact JSON text (``json.dumps``
        with ``separators=(",", ":")``). Raises what they raise for a value JSON cannot
        hold (``TypeError``)."""
        return json.dumps(self._converter.unstructure(obj), separators=(",", ":"))

    def decode(self, raw: str | bytes) -> Any:
        """The JSON value of ``raw``, structured into the codec's type if it has one.
        Raises :class:`tether.DecodeError` (``raw`` kept) for text that is not JSON,
        bytes that are not UTF-8 JSON, or a value that does not fit the type."""
        try:
            value = self._loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(f"not JSON: {exc}", raw) from exc
        if self._type is None:
            return value
        try:
            return self._converter.structure(value, self._type)
        except Exception as exc:
            raise DecodeError(f"does not fit {self._type.__name__}: {exc}", raw) from exc
