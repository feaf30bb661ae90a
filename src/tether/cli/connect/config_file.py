"""The ``--config`` file of ``tether connect``: a TOML document whose top-level keys
and ``[backoff]`` table are loaded by :meth:`tether.Config.from_mapping`, plus the
optional ``[connect]`` table (:class:`ConnectSettings`: URLs, headers, subprotocols,
proxy),
which is this command's own and is checked here, with errors in the same one-line
``key.path: problem`` form as ``Config``'s.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

import tether
from tether.policy import ENVIRONMENT, header_problem, parse_proxy_url

from .._format import header_names, redacted_proxy, redacted_urls

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["ConnectSettings", "read_connect_file"]


#: Longest ``repr`` of an offending value quoted in an error message (characters).
_MAX_VALUE_REPR = 40


@attrs.frozen(kw_only=True)
class ConnectSettings:
    """The ``[connect]`` table of a ``tether connect --config`` file.

    Attributes:
        url: URL(s) to connect to, tried in order (a string or a list of strings;
            default none: give them on the command line).
        headers: extra handshake headers, a table of name = value strings (default
            none).
        subprotocols: ``Sec-WebSocket-Protocol`` values to offer (a string or a list).
        proxy: a proxy URL (``"socks5h://127.0.0.1:1080"``), or ``false`` to connect
            directly; default unset: the environment's (``https_proxy`` ...).
    """

    url: tuple[str, ...] = attrs.field(default=(), repr=redacted_urls)
    headers: dict[str, str] = attrs.field(factory=dict, repr=header_names)
    subprotocols: tuple[str, ...] = ()
    proxy: str | None = attrs.field(default=ENVIRONMENT, repr=redacted_proxy)


def read_connect_file(
    source: str | os.PathLike[str],
) -> tuple[dict[str, Any], ConnectSettings]:
    """Read a ``tether connect --config`` file (a path): its ``Config`` keys (as a
    mapping, so that command-line options can override them before
    :meth:`tether.Config.from_mapping`) and its ``[connect]`` table. Raises
    :class:`tether.ConfigError`, prefixed with the file name, when the file cannot be
    read or parsed, or either part is invalid."""
    name = os.fspath(source)
    document = _read_toml(name)
    connect = document.pop("connect", {})
    try:
        settings = connect_settings(connect, path="connect")
        tether.Config.from_mapping(document)
    except tether.ConfigError as exc:
        raise tether.ConfigError(f"{name}: {exc}") from None
    return document, settings


def _read_toml(name: str) -> dict[str, Any]:
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise tether.ConfigError(f"{name}: cannot read: {reason}") from None
    try:
        document: dict[str, Any] = tomllib.loads(text)
        return document
    except tomllib.TOMLDecodeError as exc:
        raise tether.ConfigError(f"{name}: invalid TOML: {exc}") from None


def connect_settings(table: object, path: str = "connect") -> ConnectSettings:
    """:class:`ConnectSettings` from the ``[connect]`` table (``path``: its key path in
    messages). Raises :class:`tether.ConfigError` naming every bad key on one line."""
    if not isinstance(table, Mapping):
        raise tether.ConfigError(f"{path}: expected a table, got {_describe(table)}")
    problems: list[str] = []
    url = _strings(table.get("url", ()), f"{path}.url", problems)
    headers = _string_table(table.get("headers", {}), f"{path}.headers", problems)
    subprotocols = _strings(table.get("subprotocols", ()), f"{path}.subprotocols", problems)
    proxy = _proxy(table.get("proxy", ENVIRONMENT), f"{path}.proxy", problems)
    names = [field.name for field in attrs.fields(ConnectSettings)]
    for key in sorted(str(key) for key in table if key not in names):
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{path}.{key}: unknown key{hint}")
    if problems:
        raise tether.ConfigError("; ".join(problems))
    return ConnectSettings(url=url, headers=headers, subprotocols=subprotocols, proxy=proxy)


def _proxy(value: object, path: str, problems: list[str]) -> str | None:
    """A proxy URL (checked, quoted redacted), ``false`` (direct: ``None``), or unset."""
    if value is False:
        return None
    if value == ENVIRONMENT:
        return ENVIRONMENT
    if not isinstance(value, str):
        problems.append(f"{path}: expected a proxy URL string or false, got {type(value).__name__}")
        return None
    try:
        parse_proxy_url(value, name=path)
    except tether.ConfigError as exc:
        problems.append(str(exc))
    return value


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return text


def _strings(value: object, path: str, problems: list[str]) -> tuple[str, ...]:
    """A string or a list of strings, as a tuple."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        problems.append(f"{path}: expected a string or a list of strings, got {_describe(value)}")
        return ()
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{path}[{index}]: expected a string, got {_describe(item)}")
            return ()
    return tuple(value)


def _string_table(value: object, path: str, problems: list[str]) -> dict[str, str]:
    """A table of header name = string, each header one that may be sent
    (:func:`tether.policy.header_problem`). Problems name the header, never quote its
    value: it is often a credential."""
    if not isinstance(value, Mapping):
        problems.append(f"{path}: expected a table of strings, got {type(value).__name__}")
        return {}
    for key, item in value.items():
        if not isinstance(item, str):
            problems.append(f"{path}.{key}: expected a string, got {type(item).__name__}")
            return {}
        problem = header_problem(key, item)
        if problem is not None:
            problems.append(f"{path}: {problem}")
            return {}
    return {str(key): item for key, item in value.items()}
