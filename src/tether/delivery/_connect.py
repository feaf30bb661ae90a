"""``tether.delivery.connect()``: a :class:`tether.Session` with a :class:`Delivery` on
it, and the delivery layer's two tasks in a nursery of their own inside the session's
``async with``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..codec import Codec
from ..config import Config, Overflow
from ..exceptions import ConfigError, SessionClosed
from ..policy import check_callback, check_codec
from ..session import connect as session_connect
from ..session import single_error
from ._delivery import Delivery, OnConnect, PassThrough
from ._dialect import Dialect
from ._heartbeat import DEFAULT_HEARTBEAT_TIMEOUT, check_seconds

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["connect"]


def _count(name: str, value: int | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}: must be an int >= 1, got {value!r}")
    return value


@asynccontextmanager
async def connect(
    url: Any,
    *,
    dialect: Dialect,
    config: Config | None = None,
    codec: Codec | None = None,
    on_connect: OnConnect | None = None,
    max_unacknowledged: int | None = None,
    max_unacknowledged_bytes: int | None = None,
    overflow: Overflow | None = None,
    last_sequence: int | None = None,
    heartbeat_interval: float | None = None,
    heartbeat_timeout: float | None = DEFAULT_HEARTBEAT_TIMEOUT,
    **options: Any,
) -> AsyncIterator[Delivery]:
    """Open a session (:func:`tether.connect`) that speaks ``dialect``; enter once
    generation 1 is open and its resume step is done, with a :class:`Delivery`.

    Args:
        url: as for :func:`tether.connect`.
        dialect: the server's :class:`tether.delivery.Dialect`
            (:func:`tether.delivery.json_dialect` for the generic JSON one).
        config: a :class:`tether.Config` (default ``Config()``).
        codec: the application's codec (:class:`tether.JsonCodec` for JSON); the
            dialect's functions see what it decodes and give what it encodes.
        on_connect: ``async fn(conn: tether.Connection)``, as for ``tether.connect``;
            it runs after the dialect's resume message is sent and before the
            unacknowledged messages are sent again. What it reads with
            ``conn.receive()`` does not go through the delivery layer (no duplicate
            dropped, no acknowledgement applied).
        max_unacknowledged: messages the ledger holds, queued and unacknowledged
            together (default ``config.send_buffer``, 1024).
        max_unacknowledged_bytes: bytes of them (``len()`` of each encoded message;
            default ``config.send_buffer_bytes``, 16 MiB).
        overflow: what a send does when the ledger is full (:class:`tether.Overflow`;
            default ``config.overflow``).
        last_sequence: the last inbound sequence number a previous process saw
            (``Delivery.last_sequence``), to resume from; default ``None``.
        heartbeat_interval: seconds between the dialect's heartbeats
            (``Dialect.heartbeat``) on an open connection: the first one this long
            after the connection opened, each next one this long after the reply.
            Default ``None``: no heartbeats (``Delivery.set_heartbeat`` can start them).
        heartbeat_timeout: seconds a heartbeat's reply may take
            (default :data:`DEFAULT_HEARTBEAT_TIMEOUT`, 20 s, as ``Config.ping_timeout``);
            past it, with no message received meanwhile and the application not the
            slow one, the connection is lost with ``LostReason.PING_TIMEOUT`` and the
            session reconnects. ``None``: heartbeats are sent, a missing reply is held
            against no one.
        options: every other keyword argument of :func:`tether.connect` (``headers``,
            ``opener``, ``on_event`` ...), passed on.

    Raises (on entry) what :func:`tether.connect` raises, and
    :class:`tether.ConfigError` for a ``dialect`` that is not a ``Dialect``, a
    ``max_unacknowledged``/``max_unacknowledged_bytes`` below 1, an ``overflow`` that is
    not an ``Overflow``, a ``last_sequence`` that is not an ``int``, a
    ``heartbeat_interval``/``heartbeat_timeout`` that is not ``None`` or seconds > 0, a
    ``heartbeat_interval`` for a dialect without a heartbeat.

    On exit the messages still queued are handed to the session (within
    ``config.close_timeout``), then the session closes as ``tether.connect``'s does.
    Messages written and not yet acknowledged are not sent again
    (``Delivery.wait_acknowledged()`` first waits for them). Waiting calls raise
    :class:`tether.SessionClosed`. No ``ExceptionGroup`` escapes.
    """
    if not isinstance(dialect, Dialect):
        raise ConfigError(
            f"dialect: must be a tether.delivery.Dialect, got {type(dialect).__name__}"
        )
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        raise ConfigError(f"config: must be a tether.Config, got {config!r}")
    check_codec(codec)
    check_callback("on_connect", on_connect)
    if overflow is None:
        overflow = config.overflow
    elif not isinstance(overflow, Overflow):
        raise ConfigError(f"overflow: must be a tether.Overflow, got {overflow!r}")
    if last_sequence is not None and (
        isinstance(last_sequence, bool) or not isinstance(last_sequence, int)
    ):
        raise ConfigError(f"last_sequence: must be an int or None, got {last_sequence!r}")
    interval = check_seconds("heartbeat_interval", heartbeat_interval)
    timeout = check_seconds("heartbeat_timeout", heartbeat_timeout)
    if interval is not None and not dialect.has_heartbeat:
        raise ConfigError("heartbeat_interval: the dialect has no heartbeat (Dialect.heartbeat)")
    delivery = Delivery(
        dialect,
        codec=codec,
        capacity=_count("max_unacknowledged", max_unacknowledged, config.send_buffer),
        max_bytes=_count(
            "max_unacknowledged_bytes", max_unacknowledged_bytes, config.send_buffer_bytes
        ),
        overflow=overflow,
        last_sequence=last_sequence,
        on_connect=on_connect,
        heartbeat_interval=interval,
        heartbeat_timeout=timeout,
    )
    close_timeout = config.close_timeout
    try:
        async with session_connect(
            url, config=config, codec=PassThrough(codec), on_connect=delivery._on_connect, **options
        ) as session:
            delivery._attach(session)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(delivery._hand_on)
                    nursery.start_soon(delivery._take_in)
                    if dialect.has_heartbeat:
                        nursery.start_soon(delivery._beat)
                    try:
                        yield delivery
                        with trio.move_on_after(
                            float("inf") if close_timeout is None else close_timeout
                        ):
                            await delivery._wait_handed_on()
                    finally:
                        nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                raise single_error(group) from None
    finally:
        delivery._detach(SessionClosed("the session is closed"))
