"""Plain data (a mapping, a TOML document) into frozen attrs value classes, strictly,
with every problem reported in one :class:`tether.ConfigError` line.

:class:`Structurer` wraps a cattrs converter (``forbid_extra_keys``,
``detailed_validation``) whose hooks are strict: a number where a number is expected
(``5`` and ``5.0`` are both accepted; ``"5"`` is not), an integer where an integer is
expected (``1.5`` is not rounded), ``true`` or ``false`` for flags, an enum member by
its value, a table (mapping) for a nested attrs class. ``X | None`` of a number accepts
``None`` or ``false`` (TOML has no null) to disable; ``X | None`` of a nested class
accepts a table, ``false`` (disabled) or ``true`` (its defaults; a class with a
required field takes only a table or ``false``). A type can be refused outright with a
reason (a callable cannot come from data). Nothing here knows a particular class:
:mod:`tether.config` passes its own. This module imports nothing of tether but
:mod:`tether.exceptions`.

The message is one line, each problem as ``key.path: what is wrong``, separated by
``"; "``::

    backoff.initial: expected a number, got 'fast'
    pingg_interval: unknown key (did you mean ping_interval?)
    ping_timeout: must be > 0, got -1.0

How: cattrs collects the errors of a structuring run in a ``ClassValidationError``
tree, each sub-error noted with the attribute or index it belongs to;
:meth:`Structurer.explain` walks that tree and builds the path. Errors of the classes'
own validators (already ``ConfigError("field: ...")``) keep their text, prefixed with
the path of the table they are in.
"""

from __future__ import annotations

import difflib
import enum
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from .exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Structurer", "UnknownKeyHint", "read_toml"]

T = TypeVar("T")

#: ``(path, key, cls) -> text``: why an unknown ``key`` of a ``cls`` table at ``path``
#: is unknown, or ``None`` for the default hint (the closest field name, if any).
UnknownKeyHint = Callable[[str, str, type], "str | None"]

#: Longest ``repr`` of an offending value quoted in an error message (characters).
MAX_VALUE_REPR = 40


class Mismatch(Exception):
    """A value of the wrong type: ``expected`` describes the right one. ``subpath`` is
    appended to the key path (``[2]`` for the third item of a list)."""

    def __init__(self, expected: str, value: object, subpath: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.subpath = subpath


class Refused(Exception):
    """A key that exists but cannot be loaded from data; the message says why."""


def describe(value: object) -> str:
    """``repr(value)``, shortened to :data:`MAX_VALUE_REPR` characters."""
    text = repr(value)
    if len(text) > MAX_VALUE_REPR:
        text = text[: MAX_VALUE_REPR - 3] + "..."
    return text


# -------------------------------------------------------------------------- hooks


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Mismatch("a number", value)
    return float(value)


def _integer(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Mismatch("an integer", value)
    return value


def _flag(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise Mismatch("true or false", value)
    return value


def _string(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise Mismatch("a string", value)
    return value


def _enum_hook(kind: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    """A member of ``kind``, or its value (a string, any case)."""

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str):
            try:
                return kind(value.lower())
            except ValueError:
                pass
        choices = ", ".join(repr(member.value) for member in kind)
        raise Mismatch(f"one of {choices}", value)

    return hook


_LABELS: Mapping[Any, str] = {float: "a number", int: "an integer"}
_PLAIN_HOOKS: Mapping[Any, Callable[[Any, Any], Any]] = {float: _number, int: _integer}


def _optional_inner(kind: Any) -> Any:
    """``X`` for the annotation ``X | None`` of a number, else ``None``."""
    for inner in _PLAIN_HOOKS:
        if kind == (inner | None):
            return inner
    return None


def _optional_hook(kind: Any) -> Callable[[Any, Any], Any]:
    """``X | None``: ``None`` or ``false`` disable; otherwise an ``X``."""
    inner = _optional_inner(kind)
    structure = _PLAIN_HOOKS[inner]
    expected = f"{_LABELS[inner]}, or false to disable"

    def hook(value: Any, _: Any) -> Any:
        if value is None or value is False:
            return None
        try:
            return structure(value, inner)
        except Mismatch:
            raise Mismatch(expected, value) from None

    return hook


def _equals(kind: Any) -> Callable[[Any], bool]:
    """A cattrs predicate: the type is ``kind``."""
    return lambda t: bool(t == kind)


def _refusal(reason: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        raise Refused(reason)

    return hook


def _table_hook(converter: cattrs.Converter, cls: type[T]) -> Callable[[Any, Any], T]:
    """An attrs class from a table (mapping); an instance of it passes through."""
    generated = make_dict_structure_fn(cls, converter)

    def hook(value: Any, _: Any) -> T:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise Mismatch("a table", value)
        return generated(value, cls)

    return hook


def _optional_table_hook(
    cls: type[T], table: Callable[[Any, Any], T]
) -> Callable[[Any, Any], T | None]:
    """``cls | None`` of a table: ``None`` or ``false`` disable, ``true`` is the default
    ``cls()``, a table is read as ``cls``."""

    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)  # type: ignore[arg-type]
    defaults = all(field.default is not attrs.NOTHING for field in fields)
    expected = "a table, true or false" if defaults else "a table, or false to disable"

    def hook(value: Any, _: Any) -> T | None:
        if value is None or value is False:
            return None
        if value is True:
            if not defaults:
                raise Mismatch(expected, value)
            return cls()
        try:
            return table(value, cls)
        except Mismatch:
            raise Mismatch(expected, value) from None

    return hook


# -------------------------------------------------------------------- the structurer


def _join(path: str, key: str) -> str:
    if not path or key.startswith("["):
        return path + key
    return f"{path}.{key}"


def _note_key(note: AttributeValidationNote | IterableValidationNote) -> str:
    """The key an error note is about: a field's name, or a list index as ``[2]``."""
    if isinstance(note, AttributeValidationNote):
        return note.name
    return f"[{note.index}]"


class Structurer:
    """Strict structuring of plain data into the attrs classes ``tables``.

    Arguments:
        tables: attrs classes loaded from tables (mappings); an instance passes through.
        enums: enum classes loaded from their values.
        refused: ``(type, reason)`` pairs: an attribute of that type cannot be loaded;
            the error says ``reason``.
        unknown_key_hint: explains an unknown key instead of the default "did you mean".
    """

    def __init__(
        self,
        tables: Sequence[type],
        *,
        enums: Sequence[type[enum.Enum]] = (),
        refused: Sequence[tuple[Any, str]] = (),
        unknown_key_hint: UnknownKeyHint | None = None,
    ) -> None:
        self._unknown_key_hint = unknown_key_hint
        converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        for kind, hook in [(float, _number), (int, _integer), (bool, _flag), (str, _string)]:
            converter.register_structure_hook(kind, hook)
        for enum_class in enums:
            converter.register_structure_hook(enum_class, _enum_hook(enum_class))
        converter.register_structure_hook_factory(
            lambda t: _optional_inner(t) is not None, _optional_hook
        )
        for refused_type, reason in refused:
            converter.register_structure_hook_func(_equals(refused_type), _refusal(reason))
        for cls in tables:
            table: Callable[[Any, Any], Any] = _table_hook(converter, cls)
            converter.register_structure_hook(cls, table)
            converter.register_structure_hook_func(
                _equals(cls | None), _optional_table_hook(cls, table)
            )
        self._converter = converter

    def structure(self, data: object, cls: type[T], path: str = "") -> T:
        """``data`` as a ``cls``; raises :class:`ConfigError` naming every problem
        (``path``: where ``data`` is, ``""`` for the top-level table)."""
        try:
            return self._converter.structure(data, cls)
        except (BaseValidationError, Mismatch, Refused, ConfigError) as exc:
            raise ConfigError("; ".join(self.explain(exc, path))) from None

    def explain(self, error: BaseException, path: str = "") -> list[str]:
        """One ``key.path: problem`` line per problem in a cattrs structuring error.

        ``path`` is where ``error`` happened (``""`` for the top-level table).
        """
        if isinstance(error, (ClassValidationError, IterableValidationError)):
            with_notes, without_notes = error.group_exceptions()
            lines: list[str] = []
            for sub, note in with_notes:
                lines += self.explain(sub, _join(path, _note_key(note)))
            for sub in without_notes:
                lines += self.explain(sub, path)
            return lines
        if isinstance(error, ForbiddenExtraKeysError):
            return [self._unknown_key(path, key, error.cl) for key in sorted(error.extra_fields)]
        if isinstance(error, Mismatch):
            where = _join(path, error.subpath) if error.subpath else path
            message = f"expected {error.expected}, got {describe(error.value)}"
            return [f"{where}: {message}" if where else message]
        if isinstance(error, Refused):
            return [f"{path}: {error}"]
        if isinstance(error, ConfigError):
            return [_join(path, str(error)) if path else str(error)]
        if isinstance(error, KeyError) and path:
            return [f"{path}: missing (it has no default)"]
        prefix = f"{path}: " if path else ""
        return [f"{prefix}{type(error).__name__}: {error}"]

    def _unknown_key(self, path: str, key: str, cls: type) -> str:
        where = _join(path, key)
        hint = self._unknown_key_hint(path, key, cls) if self._unknown_key_hint else None
        if hint is None:
            names = [field.name for field in attrs.fields(cls)]
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else ""
        return f"{where}: unknown key ({hint})" if hint else f"{where}: unknown key"


# ---------------------------------------------------------------------------- TOML


def _looks_like_toml(text: str) -> bool:
    return not text.strip() or "\n" in text or "=" in text or text.lstrip().startswith("[")


def read_toml(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse TOML from a path (``os.PathLike``, or a ``str`` without ``=``, ``[`` or a
    newline) or from TOML text. Raises :class:`ConfigError`, prefixed with the path (or
    ``<toml>`` for text), if the file cannot be read or parsed."""
    if isinstance(source, str) and _looks_like_toml(source):
        name, text = "<toml>", source
    else:
        name = os.fspath(source)
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{name}: cannot read: {reason}") from None
    try:
        document: dict[str, Any] = tomllib.loads(text)
        return document
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None
