"""Pure: check the arguments of ``connect()`` and ``Session.aclose()`` before anything
runs. Each check raises :class:`ConfigError` naming the argument, as ``Config``'s
validators name the field (``on_event: must be callable, got str``).
"""

from __future__ import annotations

import os
import ssl
from typing import Final

from ..exceptions import ConfigError

__all__ = [
    "MAX_CLOSE_REASON",
    "SENDABLE_CLOSE_CODES",
    "check_callback",
    "check_close",
    "check_close_code",
    "check_codec",
    "check_ssl_context",
    "check_unix_socket",
    "sendable_close_code",
]

#: Close codes below 3000 that an endpoint may send (RFC 6455 section 7.4.1 and the
#: IANA registry: 1012 Service Restart, 1013 Try Again Later, 1014 Bad Gateway);
#: 3000-4999 are for libraries and applications. 1004-1006 and 1015 are never sent.
#: The same codes that tether's frame parser accepts from a server.
SENDABLE_CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
#: Bytes of UTF-8 a Close frame's reason has room for (section 5.5: 125, 2 the code).
MAX_CLOSE_REASON: Final = 123


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


def sendable_close_code(code: int) -> bool:
    """Whether an endpoint may send ``code`` in a Close frame (RFC 6455 section 7.4)."""
    return code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999


def check_close_code(code: object) -> None:
    """``Session.aclose(code=...)`` and ``Session.reconnect(code=...)``: an int an
    endpoint may send (:data:`SENDABLE_CLOSE_CODES`, 3000-4999). Raises
    :class:`ConfigError` naming ``code``."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise ConfigError(f"code: must be an int, got {_kind(code)}")
    if not sendable_close_code(code):
        raise ConfigError(
            f"code: {code} cannot be sent in a Close frame (RFC 6455 section 7.4): use "
            "1000, 1001, 1002, 1003, 1007-1014 or 3000-4999"
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
