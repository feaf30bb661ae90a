"""Connection handlers for the memory server: the :data:`Handler` type and the default,
:func:`echo`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._server_connection import ServerConnection

__all__ = ["Handler", "echo"]

Handler = Callable[["ServerConnection"], Awaitable[None]]
"""An async function run once per accepted connection."""


async def echo(conn: ServerConnection) -> None:
    """The default handler: send every message straight back until the connection closes."""
    while True:
        await conn.send_message(await conn.get_message())
