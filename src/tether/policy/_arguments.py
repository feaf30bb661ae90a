"""Pure: check the arguments of ``connect()`` and ``Session.aclose()`` before anything
runs. Each check raises :class:`ConfigError` naming the argument, as ``Config``'s
validators name the field (``on_event: must be callable, got str``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from typing import Final

from .._close_codes import SENDABLE_CLOSE_CODES, SENDABLE_CODES_TEXT, sendable_close_code
from ..exceptions import ConfigError
from ._headers import header_problem

__all__ = [
    "MAX_CLOSE_REASON",
    "SENDABLE_CLOSE_CODES",
    "check_callback",
    "check_close",
    "check_close_code",
    "check_codec",
    "check_origin",
    "check_server_hostname",
    "check_ssl_context",
    "check_user_agent",
    "check_unix_socket",
    "sendable_close_code",
]

#: Bytes of UTF-8 a Close frame's reason has room for (section 5.5: 125, 2 the code).
MAX_CLOSE_REASON: Final = 123
#: A serialized origin (RFC 6454 section 6.2): ``scheme "://" host [ ":" port ]``, the
#: scheme as RFC 3986 section 3.1 has it, the host a name of letters, digits, ``-``,
#: ``_`` and dots (ASCII: an IDN in its ``xn--`` form) or a bracketed IPv6 address.
_ORIGIN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
#: A host name for SNI and the certificate check: labels of letters, digits, ``-`` and
#: ``_`` joined by dots (an IDN in its ``xn--`` form or as Unicode, which ``ssl`` encodes).
_HOSTNAME = re.compile(r"[^\W.](?:[\w-]*[^\W_])?(?:\.[^\W.](?:[\w-]*[^\W_])?)*\.?")


def _kind(value: object) -> str:
    return type(value).__name__


def check_callback(name: str, value: object) -> None:
    """``value`` is ``None`` or callable; else :class:`ConfigError` naming ``name``."""
    if value is not None and not callable(value):
        raise ConfigError(f"{name}: must be callable, got {_kind(value)}")


def check_ssl_context(value: object) -> None:
    """``connect(ssl_context=...)`` is ``None`` or an ``ssl.SSLContext``."""
    if value is not None and not isinstance(value, ssl.SSLContext):
        raise ConfigError(
            f"ssl_context: must be an ssl.SSLContext (ssl.create_default_context()), "
            f"got {_kind(value)}"
        )


def check_user_agent(value: object) -> None:
    """``connect(user_agent=...)`` is ``None`` (send none) or a ``str`` that may be sent
    as a header value (:func:`tether.policy.header_problem`; the error never quotes it)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigError(f"user_agent: must be a str or None, got {_kind(value)}")
    problem = header_problem("User-Agent", value)
    if problem is not None:
        raise ConfigError(f"user_agent: {problem}")


def check_origin(value: object) -> None:
    """``connect(origin=...)`` is ``None`` or a serialized origin (RFC 6454 section
    6.2): ``scheme://host[:port]``, ASCII, no userinfo, path, query or trailing ``/``,
    a port from 1 to 65535 (``https://app.example``, ``http://127.0.0.1:8000``)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigError(f"origin: must be a str or None, got {_kind(value)}")
    match = _ORIGIN.fullmatch(value)
    port = None if match is None else match["port"]
    if match is None or (port is not None and not 1 <= int(port) <= 65535):
        hint = " (an origin has no path: drop the trailing '/')" if value.endswith("/") else ""
        raise ConfigError(
            f"origin: must be a serialized origin scheme://host[:port] (RFC 6454 section "
            f"6.2), such as 'https://app.example', got {value!r}{hint}"
        )
    if match["host"].startswith("["):
        try:
            ipaddress.IPv6Address(match["host"][1:-1])
        except ValueError:
            raise ConfigError(f"origin: {value!r} has an invalid IPv6 address") from None


def check_server_hostname(value: object, *, default_opener: bool) -> None:
    """``connect(server_hostname=...)`` is ``None`` or a host name (or IP address) for
    SNI and the certificate check, and only with the default opener
    (``default_opener``: no ``opener=`` was given), which is the one that does TLS."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigError(f"server_hostname: must be a str or None, got {_kind(value)}")
    if not default_opener:
        raise ConfigError(
            "server_hostname: only the default opener does TLS; with opener=, give the "
            "name to your opener (tether.TcpOpener(server_hostname=...))"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if _HOSTNAME.fullmatch(value) is None:
            raise ConfigError(
                f"server_hostname: must be a host name such as 'example.test' (no scheme, "
                f"port or path), got {value!r}"
            ) from None


def check_unix_socket(path: object, opener: object) -> None:
    """``connect(unix_socket=...)`` is ``None`` or a non-empty ``str`` or
    ``os.PathLike``, and not given together with ``opener`` (which decides itself where
    to connect)."""
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"unix_socket: must be a str or os.PathLike path, got {_kind(path)}")
    if not os.fspath(path):
        raise ConfigError("unix_socket: the path is empty")
    if opener is not None:
        raise ConfigError(
            "unix_socket: cannot be combined with opener= (the opener decides where to "
            "connect; pass opener=tether.UnixOpener(path) yourself, or leave opener out)"
        )


def check_codec(value: object) -> None:
    """``connect(codec=...)`` is ``None`` or has callable ``encode`` and ``decode``."""
    if value is None:
        return
    if not (callable(getattr(value, "encode", None)) and callable(getattr(value, "decode", None))):
        raise ConfigError(
            f"codec: must have callable encode() and decode() (tether.Codec), got {_kind(value)}"
        )


def check_close_code(code: object) -> None:
    """``Session.aclose(code=...)`` and ``Session.reconnect(code=...)``: an int an
    endpoint may send (:data:`SENDABLE_CLOSE_CODES`, 3000-4999). Raises
    :class:`ConfigError` naming ``code``."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise ConfigError(f"code: must be an int, got {_kind(code)}")
    if not sendable_close_code(code):
        raise ConfigError(
            f"code: {code} cannot be sent in a Close frame (RFC 6455 section 7.4): use "
            f"{SENDABLE_CODES_TEXT}"
        )


def check_close(code: object, reason: object) -> None:
    """``Session.aclose(code, reason)``: ``code`` as :func:`check_close_code`, ``reason``
    a str of at most :data:`MAX_CLOSE_REASON` bytes in UTF-8. Raises
    :class:`ConfigError` naming which."""
    check_close_code(code)
    if not isinstance(reason, str):
        raise ConfigError(f"reason: must be a str, got {_kind(reason)}")
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError("reason: UTF-8 cannot encode it (a lone surrogate)") from None
    if size > MAX_CLOSE_REASON:
        raise ConfigError(f"reason: must be at most {MAX_CLOSE_REASON} bytes in UTF-8, got {size}")
