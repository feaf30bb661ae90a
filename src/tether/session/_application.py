"""The application's code that the session calls: ``on_connect`` and the ``headers``
and ``url`` callables. What it raises is the application's own error, never taken for the
transport's: a ``PermissionError`` from ``on_connect`` is not a refused connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..exceptions import ApplicationError, ConnectionLostError
from ._groups import single_error

__all__ = ["application_code"]


@contextmanager
def application_code(callback: str) -> Iterator[None]:
    """Run the application's ``callback`` (``"on_connect"``, ``"headers"`` or ``"url"``)
    inside.

    An exception it raises leaves as :class:`tether.ApplicationError` naming the
    callback, with the exception (a group unwrapped to its one error,
    :func:`single_error`) as ``__cause__``. What passes as it is: a
    ``ConnectionLostError`` (``Connection.send`` or ``receive`` found the link dead:
    the connection's error, retried like any loss), cancellation (``connect_timeout``,
    ``reconnect()``, the session closing) and any other ``BaseException`` that is not
    an ``Exception``.
    """
    try:
        yield
    except BaseException as error:
        single = single_error(error)
        if not isinstance(single, Exception) or isinstance(single, ConnectionLostError):
            raise
        raise ApplicationError(callback, single) from single
