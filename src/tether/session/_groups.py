"""Exception groups at the session's edge: Trio nurseries raise groups; no public call
of tether does. :func:`single_error` picks the one exception worth raising."""

from __future__ import annotations

import trio

try:  # Python 3.10
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    pass

__all__ = ["single_error"]


def single_error(error: BaseException) -> BaseException:
    """The one exception worth raising from a (possibly nested) Trio exception group:
    the first that is not a cancellation, else the first cancellation. Any other
    exception is returned as it is."""
    if not isinstance(error, BaseExceptionGroup):
        return error
    leaves: list[BaseException] = []
    stack: list[BaseException] = [error]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(reversed(item.exceptions))
        else:
            leaves.append(item)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0]
