"""Errors in words, on one line: what event strings, log records and the ``tether``
command show of an error (``HandshakeRejected(503): ...``,
``ConnectionRefusedError: [Errno 111] ...``). Pure; no secret is added (URLs and
header values in tether's own messages are already redacted)."""

from __future__ import annotations

__all__ = ["describe_error", "error_kind"]

#: Longest error message quoted in a line (characters).
MAX_MESSAGE = 80


def _innermost(error: BaseException) -> BaseException:
    """Unwrap a bare ``OSError`` that only wraps others (trio's "all attempts to connect
    failed" carries the real errors in an exception group as its ``__cause__``)."""
    for _ in range(8):
        if type(error) is not OSError or error.__cause__ is None:
            break
        cause = error.__cause__
        nested = getattr(cause, "exceptions", None)
        error = nested[0] if nested else cause
    return error


def error_kind(error: BaseException | None) -> str:
    """A short label for an error, for counting: ``HandshakeRejected(503)``,
    ``ConnectionRefusedError``; ``-`` for none."""
    if error is None:
        return "-"
    status = getattr(error, "status_code", None)
    if status is not None:
        return f"{type(error).__name__}({status})"
    return type(_innermost(error)).__name__


def describe_error(error: BaseException | None) -> str:
    """``kind: message`` of an error, on one line, the message cut at
    :data:`MAX_MESSAGE` characters (``...``); ``-`` for none."""
    if error is None:
        return "-"
    message = " ".join(str(_innermost(error)).split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{error_kind(error)}: {message}" if message else error_kind(error)
