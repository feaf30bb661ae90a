"""Pure: check the extra handshake headers given to ``connect()`` and encode them for
the upgrade request (RFC 9110 section 5: names are tokens, values field-values).

Errors name the header and say what is wrong with it, never what its value is: a value
is often a credential (a token read from a file with its trailing newline must not end
up in a log).
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Mapping
from typing import Final

from .._version import __version__
from ..exceptions import ConfigError

__all__ = [
    "CREDENTIAL_HEADERS",
    "DEFAULT_USER_AGENT",
    "OWNED_HEADERS",
    "check_headers_argument",
    "handshake_headers",
    "header_problem",
]

#: Headers the opening handshake writes itself (RFC 6455 section 4.1), lower case; with
#: every ``Sec-WebSocket-*`` header (:data:`_OWNED_PREFIX`).
OWNED_HEADERS = frozenset({"host", "upgrade", "connection"})
_OWNED_PREFIX = "sec-websocket-"
#: Headers of ``headers`` that a redirect to another origin does not carry on (lower
#: case), with the ``Authorization`` of the URL's userinfo (``tether.policy._redirect``).
CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie"})
#: The ``User-Agent`` the handshake sends unless told otherwise (``connect(user_agent=)``
#: or a ``User-Agent`` in ``headers``): ``trio-tether/VERSION Python/X.Y``, VERSION
#: being ``tether.__version__``.
DEFAULT_USER_AGENT: Final = (
    f"trio-tether/{__version__} Python/{sys.version_info.major}.{sys.version_info.minor}"
)
#: RFC 9110 section 5.6.2: ``tchar``.
_TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters)
#: RFC 9110 section 5.5: ``field-value``: visible ASCII and obs-text (Latin-1 0x80-0xFF),
#: with spaces and tabs only between them.
_FIELD_VALUE = re.compile(
    r"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
)


def _character(char: str) -> str:
    """What ``char`` is, in words (never the character itself for a value)."""
    code = ord(char)
    if char in "\r\n":
        return "a line break (CR or LF)"
    if code == 0:
        return "a NUL character"
    if char in " \t":
        return "whitespace"
    if code < 0x20 or code == 0x7F:
        return f"a control character (U+{code:04X})"
    if code > 0xFF:
        return f"a character outside Latin-1 (U+{code:04X})"
    return f"{char!r}"


def _value_problem(value: str) -> str:
    """Why ``value``, which is not a field-value, is not one."""
    for char in value:
        code = ord(char)
        if code > 0xFF or code == 0x7F or (code < 0x20 and char != "\t"):
            return _character(char)
    return "leading or trailing whitespace"


def header_problem(name: object, value: object) -> str | None:
    """What is wrong with the header ``name: value``, a phrase naming the header
    (``"'X-Token': value has a line break (CR or LF) ..."``), or ``None`` when it may
    be sent. Never quotes ``value``, nor a name past its first
    invalid character (a mistyped entry may have put a credential there)."""
    if not isinstance(name, str):
        return f"header name must be a str, got {type(name).__name__}"
    if not name:
        return "a header name is empty"
    for index, char in enumerate(name):
        if char not in _TCHAR:
            return (
                f"name {name[:index]!r} then {_character(char)} is not an HTTP token "
                "(RFC 9110 section 5.6.2)"
            )
    lower = name.lower()
    if lower in OWNED_HEADERS or lower.startswith(_OWNED_PREFIX):
        protocol = lower == "sec-websocket-protocol"
        hint = "; offer subprotocols with subprotocols=" if protocol else ""
        return (
            f"{name!r} is set by tether (the handshake writes Host, Upgrade, Connection "
            f"and Sec-WebSocket-*){hint}"
        )
    if not isinstance(value, str):
        return f"{name!r}: value must be a str, got {type(value).__name__}"
    if _FIELD_VALUE.fullmatch(value) is None:
        return f"{name!r}: value has {_value_problem(value)} (RFC 9110 section 5.5)"
    return None


def handshake_headers(
    headers: object,
    *,
    authorization: str | None = None,
    user_agent: str | None = None,
    origin: str | None = None,
    credentials: bool = True,
) -> list[tuple[bytes, bytes]]:
    """``headers`` (a mapping of str to str) checked and encoded (Latin-1) for the
    upgrade request, followed by ``Authorization: <authorization>``, ``User-Agent:
    <user_agent>`` and ``Origin: <origin>`` for each that is not ``None`` and that
    ``headers`` does not have (any case): what ``headers`` says wins. ``credentials``
    false (after a redirect to another origin): ``headers``' ``Authorization`` and
    ``Cookie`` (:data:`CREDENTIAL_HEADERS`) are left out, and so is ``authorization``.
    Raises :class:`ConfigError` naming the first bad header (:func:`header_problem`) or
    saying that ``headers`` is not a mapping."""
    if not isinstance(headers, Mapping):
        raise ConfigError(f"headers: must be a mapping of str to str, got {type(headers).__name__}")
    fields: list[tuple[bytes, bytes]] = []
    given: set[str] = set()
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise ConfigError(f"headers: {problem}")
        lower = name.lower()
        given.add(lower)
        if credentials or lower not in CREDENTIAL_HEADERS:
            fields.append((name.encode("ascii"), value.encode("latin-1")))
    defaults = (
        ("Authorization", authorization if credentials else None),
        ("User-Agent", user_agent),
        ("Origin", origin),
    )
    for name, default in defaults:
        if default is not None and name.lower() not in given:
            fields.append((name.encode("ascii"), default.encode("latin-1")))
    return fields


def check_headers_argument(headers: object) -> None:
    """``connect(headers=...)``: ``None``, a callable (an ``async fn() -> mapping``,
    checked when called), or a mapping whose headers may all be sent. Raises
    :class:`ConfigError` otherwise."""
    if headers is None or callable(headers):
        return
    if not isinstance(headers, Mapping):
        raise ConfigError(
            "headers: must be a mapping of str to str or an async callable returning one, "
            f"got {type(headers).__name__}"
        )
    handshake_headers(headers)
