"""Errors that events carry hold no traceback: a traceback keeps every frame it passed
through alive, and with them whatever those frames referenced (a whole generation's
machinery), for as long as a subscriber keeps the event."""

from __future__ import annotations

from typing import TypeVar

try:  # Python 3.10
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    pass

__all__ = ["without_tracebacks"]

E = TypeVar("E", bound=BaseException)


def without_tracebacks(error: E) -> E:
    """Clear, in place, the ``__traceback__`` of ``error`` and of every exception it
    links to (``__cause__``, ``__context__``, the members of an exception group), and
    return ``error``. Only for an error nobody will raise again."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        item.__traceback__ = None
        stack.extend(linked for linked in (item.__cause__, item.__context__) if linked)
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
    return error
