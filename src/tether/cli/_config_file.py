"""Configuration from data: ``Config.from_mapping()``, ``Config.from_toml()`` and the
``[connect]`` table of ``tether connect --config``.

A cattrs converter, configured for :class:`tether.Config` with ``forbid_extra_keys``,
turns a mapping (a parsed TOML or JSON document) into a ``Config``. Its hooks are
strict: a number where a number is expected (``5`` and ``5.0`` are both seconds; ``"5"``
is not), an integer where an integer is expected (``1.5`` is not rounded), ``true`` or
``false`` for flags, an :class:`tether.Overflow` by its value (``"block"``,
``"drop_oldest"``, ``"raise"``), a table for ``backoff``. TOML has no null, so an
optional timer or limit is disabled with ``false`` (``idle_timeout = false``); ``None``
works too in a mapping. ``retry_if`` is a Python callable and cannot come from data.

Every problem found is reported in one :class:`tether.ConfigError` whose message is one
line, each problem as ``key.path: what is wrong``, separated by ``"; "``::

    backoff.initial: expected a number, got 'fast'
    pingg_interval: unknown key (did you mean ping_interval?)
    ping_timeout: must be > 0, got -1.0

How: cattrs (``detailed_validation``) collects the errors of a structuring run in a
``ClassValidationError`` tree, each sub-error noted with the attribute or index it
belongs to; :func:`explain` walks that tree and builds the path. Errors of the
configuration classes' own validators (already ``ConfigError("field: ...")``) keep
their text, prefixed with the path of the table they are in.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Mapping
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

from ..config import Backoff, Config, Overflow
from ..exceptions import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "ConnectSettings",
    "config_from_mapping",
    "config_from_toml",
    "explain",
    "read_connect_file",
    "read_toml",
]

T = TypeVar("T")

#: Longest ``repr`` of an offending value quoted in an error message (characters).
_MAX_VALUE_REPR = 40


class _Mismatch(Exception):
    """A value of the wrong type: ``expected`` describes the right one. ``subpath`` is
    appended to the key path (``[2]`` for the third item of a list)."""

    def __init__(self, expected: str, value: object, subpath: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.subpath = subpath


class _Refused(Exception):
    """A key that exists but cannot be loaded from data; the message says why."""


@attrs.frozen(kw_only=True)
class ConnectSettings:
    """The ``[connect]`` table of a ``tether connect --config`` file.

    Attributes:
        url: URL(s) to connect to, tried in order (a string or a list of strings;
            default none: give them on the command line).
        headers: extra handshake headers, a table of name = value strings (default
            none).
        subprotocols: ``Sec-WebSocket-Protocol`` values to offer (a string or a list).
    """

    url: tuple[str, ...] = ()
    headers: dict[str, str] = attrs.field(factory=dict)
    subprotocols: tuple[str, ...] = ()


# ---------------------------------------------------------------------- the converter


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return text


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch("a number", value)
    return float(value)


def _integer(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Mismatch("an integer", value)
    return value


def _flag(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise _Mismatch("true or false", value)
    return value


def _string(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _Mismatch("a string", value)
    return value


def _overflow(value: Any, _: Any) -> Overflow:
    if isinstance(value, Overflow):
        return value
    if isinstance(value, str):
        try:
            return Overflow(value.lower())
        except ValueError:
            pass
    choices = ", ".join(repr(member.value) for member in Overflow)
    raise _Mismatch(f"one of {choices}", value)


def _strings(value: Any, _: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise _Mismatch("a string or a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _Mismatch("a string", item, subpath=f"[{index}]")
    return tuple(value)


def _string_table(value: Any, _: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _Mismatch("a table of strings", value)
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Mismatch("a string", item, subpath=str(key))
    return {str(key): item for key, item in value.items()}


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
        except _Mismatch:
            raise _Mismatch(expected, value) from None

    return hook


def _refuse_retry_if(value: Any, _: Any) -> None:
    raise _Refused(
        "cannot be loaded from a file or mapping (it is a Python callable); set it in "
        "code: attrs.evolve(config, retry_if=fn)"
    )


def _table_hook(converter: cattrs.Converter, cls: type[T]) -> Callable[[Any, Any], T]:
    """An attrs class from a table (mapping); an instance of it passes through."""
    generated = make_dict_structure_fn(cls, converter)

    def hook(value: Any, _: Any) -> T:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _Mismatch("a table", value)
        return generated(value, cls)

    return hook


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for kind, hook in [(float, _number), (int, _integer), (bool, _flag), (str, _string)]:
        converter.register_structure_hook(kind, hook)
    converter.register_structure_hook(Overflow, _overflow)
    converter.register_structure_hook_factory(
        lambda t: _optional_inner(t) is not None, _optional_hook
    )
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    converter.register_structure_hook_func(lambda t: t == dict[str, str], _string_table)
    retry_if_type = attrs.fields(attrs.resolve_types(Config)).retry_if.type
    converter.register_structure_hook_func(lambda t: t == retry_if_type, _refuse_retry_if)
    for cls in (Backoff, ConnectSettings, Config):
        converter.register_structure_hook(cls, _table_hook(converter, cls))
    return converter


_converter = _make_converter()


# ------------------------------------------------------------------ error messages


def _join(path: str, key: str) -> str:
    if not path or key.startswith("["):
        return path + key
    return f"{path}.{key}"


def _unknown_key(path: str, key: str, cls: type) -> str:
    where = _join(path, key)
    if cls is Config and key == "connect" and not path:
        return f"{where}: unknown key (the [connect] table is read by `tether connect --config`)"
    names = [field.name for field in attrs.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{where}: unknown key{hint}"


def _note_key(note: object) -> str:
    if isinstance(note, AttributeValidationNote):
        return note.name
    if isinstance(note, IterableValidationNote):
        return f"[{note.index}]"
    return ""


def explain(error: BaseException, path: str = "") -> list[str]:
    """One ``key.path: problem`` line per problem in a cattrs structuring error.

    ``path`` is where ``error`` happened (``""`` for the top-level table).
    """
    if isinstance(error, (ClassValidationError, IterableValidationError)):
        with_notes, without_notes = error.group_exceptions()
        lines: list[str] = []
        for sub, note in with_notes:
            lines += explain(sub, _join(path, _note_key(note)))
        for sub in without_notes:
            lines += explain(sub, path)
        return lines
    if isinstance(error, ForbiddenExtraKeysError):
        return [_unknown_key(path, key, error.cl) for key in sorted(error.extra_fields)]
    if isinstance(error, _Mismatch):
        where = _join(path, error.subpath) if error.subpath else path
        message = f"expected {error.expected}, got {_describe(error.value)}"
        return [f"{where}: {message}" if where else message]
    if isinstance(error, _Refused):
        return [f"{path}: {error}"]
    if isinstance(error, ConfigError):
        return [_join(path, str(error)) if path else str(error)]
    prefix = f"{path}: " if path else ""
    return [f"{prefix}{type(error).__name__}: {error}"]


def _structure(data: object, cls: type[T], path: str = "") -> T:
    try:
        return _converter.structure(data, cls)
    except (BaseValidationError, _Mismatch, _Refused, ConfigError) as exc:
        raise ConfigError("; ".join(explain(exc, path))) from None


# ---------------------------------------------------------------- public helpers


def config_from_mapping(mapping: Mapping[str, Any]) -> Config:
    """A :class:`Config` from a mapping of field names to plain values (see the module
    docstring for what each field accepts). Raises :class:`ConfigError` naming every
    unknown or invalid key."""
    return _structure(mapping, Config)


def _looks_like_toml(text: str) -> bool:
    return not text.strip() or "\n" in text or "=" in text or text.lstrip().startswith("[")


def read_toml(source: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Parse TOML from a path (``os.PathLike``, or a ``str`` without ``=``, ``[`` or a
    newline) or from TOML text. Returns the document and a name for messages (the path,
    or ``"<toml>"``). Raises :class:`ConfigError` if the file cannot be read or parsed."""
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
        return tomllib.loads(text), name
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None


def config_from_toml(source: str | os.PathLike[str]) -> Config:
    """A :class:`Config` from a TOML file or text: top-level keys are ``Config`` fields,
    a ``[backoff]`` table holds the :class:`Backoff` fields."""
    document, _ = read_toml(source)
    return config_from_mapping(document)


def read_connect_file(
    source: str | os.PathLike[str],
) -> tuple[dict[str, Any], ConnectSettings]:
    """Read a ``tether connect --config`` file: its ``Config`` keys (as a mapping, so
    that command-line options can override them before :func:`config_from_mapping`) and
    its ``[connect]`` table. Raises :class:`ConfigError`, prefixed with the file name,
    when either is invalid."""
    document, name = read_toml(source)
    connect = document.pop("connect", {})
    try:
        settings = _structure(connect, ConnectSettings, path="connect")
        config_from_mapping(document)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return document, settings
