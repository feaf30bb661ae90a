"""Where each connect attempt goes: a fixed URL or failover list (tried in order within
an outage), or the application's ``url`` callable, called once per attempt (a fresh
Slack Socket Mode URL, a Discord resume URL, a presigned URL that expires)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from ..exceptions import ConfigError
from ..policy import WebSocketURL, parse_url
from ._application import application_code

__all__ = ["Targets", "UrlArg", "UrlCallable", "parse_targets"]

UrlCallable = Callable[[], Awaitable[str]]
UrlArg = str | Sequence[str] | UrlCallable


class Targets:
    """The session's URLs: either ``urls`` (failover, checked at ``connect()``) or
    ``make``, an ``async () -> str`` whose URL is checked on each call."""

    __slots__ = ("_make", "_urls")

    def __init__(self, urls: Sequence[WebSocketURL] = (), make: UrlCallable | None = None) -> None:
        assert bool(urls) != (make is not None)
        self._urls = tuple(urls)
        self._make = make

    @property
    def urls(self) -> tuple[WebSocketURL, ...]:
        """The failover list; empty when a callable makes each attempt's URL."""
        return self._urls

    def fixed(self, attempt: int) -> WebSocketURL | None:
        """The URL of ``attempt`` (1-based, within the outage) of a failover list, or
        ``None`` when the callable decides (:meth:`make`)."""
        if self._make is not None:
            return None
        return self._urls[(attempt - 1) % len(self._urls)]

    async def make(self) -> WebSocketURL:
        """Call the ``url`` callable for this attempt and check what it returned.

        Raises :class:`tether.ApplicationError` (``callback="url"``) if it raised,
        :class:`ConfigError` (never retried) if it is not async, returned no ``str``, or
        returned a URL :func:`tether.policy.parse_url` refuses (shown redacted)."""
        assert self._make is not None
        with application_code("url"):
            made = self._make()
        if not inspect.isawaitable(made):
            raise ConfigError(
                f"url: the callable must be async (return an awaitable str), "
                f"got {type(made).__name__}"
            )
        with application_code("url"):
            value = await made
        if not isinstance(value, str):
            raise ConfigError(f"url: the callable must return a str, got {type(value).__name__}")
        try:
            return parse_url(value)
        except ConfigError as error:
            problem = str(error).removeprefix("url: ")
        # Outside the except block: parse_url's error shows the URL redacted already,
        # and nothing chained quotes it as given.
        raise ConfigError(f"url: the callable returned a bad URL: {problem}")


def parse_targets(url: object) -> Targets:
    """``connect(url=...)``: a ``str``, a non-empty sequence of them, or a callable.
    Raises :class:`ConfigError` naming ``url``, before any I/O."""
    if isinstance(url, str):
        return Targets([parse_url(url)])
    if callable(url):
        return Targets(make=url)
    if not isinstance(url, Sequence) or isinstance(url, (bytes, bytearray)):
        raise ConfigError(
            f"url: must be a str, a sequence of str or an async callable returning a str, "
            f"got {type(url).__name__}"
        )
    urls = [parse_url(item) for item in url]
    if not urls:
        raise ConfigError("url: the failover list is empty")
    return Targets(urls)
