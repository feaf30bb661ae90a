"""The server side of the generic JSON dialect (:func:`tether.delivery.json_dialect`),
for the memory server: acknowledges what carries an id, takes each id once, numbers
what it sends, and answers a resume by replaying what the client missed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket

from ._server_connection import ServerConnection

__all__ = ["JsonDialectServer"]

# The wire format's keys (docs/delivery.md), as tether.delivery.json_dialect() names
# them by default. A server is written apart from its client: it imports nothing of it.
ID = "id"
ACK = "ack"
SEQ = "seq"
RESUME = "resume"
REPLY_TO = "reply_to"
PING = "ping"
PONG = "pong"

Respond = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class JsonDialectServer:
    """A server application speaking the generic JSON dialect, across connections: pass
    :attr:`handler` to :func:`tether.testing.memory_server`. Its state outlives every
    connection (and a ``Restart``), as a real server's session store would::

        app = JsonDialectServer()
        async with memory_server(app.handler) as server:
            await app.publish({"text": "hi"})        # numbered 1, kept for replay

    Per connection: nothing is sent until the client's ``{"resume": last}``; then
    everything numbered after ``last`` (all of it for ``null``) is sent again, in order,
    and what is published from then on goes to the newest connection that resumed.
    A client object with an ``"id"`` is acknowledged with ``{"ack": [id]}`` (each time
    it comes, unless :attr:`hold_acks`) and handed to the server's application once:
    :attr:`received` (a second copy counts in :attr:`duplicates`); an object without
    one is handed on every time. ``respond(message)``, if given, is called with each
    new message that has an id; what it returns (a ``dict``, or ``None`` for no reply)
    is published with ``"reply_to": id``. A heartbeat ``{"ping": n}`` is answered with
    ``{"pong": n}`` on its connection (not numbered, not kept), unless
    :attr:`answer_pings` is ``False``.

    Attributes:
        received: what the server's application got, in order (each id once).
        duplicates: client messages whose id it had seen already.
        published: every message it numbered, as sent (``"seq"`` included).
        resumes: the ``last`` of every resume, in order.
        hold_acks: when ``True``, acknowledgements are not sent (they are "lost").
        pings: ``(n, trio.current_time())`` of every heartbeat received, in order.
        answer_pings: when ``False``, heartbeats get no reply (a server whose
            application hangs while its connections stay up).
    """

    def __init__(self, respond: Respond | None = None) -> None:
        self._respond = respond
        self._lock = trio.Lock()
        self._changed = trio.lowlevel.ParkingLot()
        self._current: ServerConnection | None = None
        self._seen: set[Any] = set()
        self.received: list[Any] = []
        self.duplicates = 0
        self.published: list[dict[str, Any]] = []
        self.resumes: list[int | None] = []
        self.hold_acks = False
        self.pings: list[tuple[Any, float]] = []
        self.answer_pings = True

    async def handler(self, conn: ServerConnection) -> None:
        """The memory server's handler: one call per connection."""
        while True:
            message = json.loads(await conn.get_message())
            if isinstance(message, dict) and RESUME in message and len(message) == 1:
                await self._resume(conn, message[RESUME])
                continue
            if isinstance(message, dict) and PING in message and len(message) == 1:
                self.pings.append((message[PING], trio.current_time()))
                if self.answer_pings:
                    await self._send(conn, json.dumps({PONG: message[PING]}))
                continue
            message_id = message.get(ID) if isinstance(message, dict) else None
            if message_id is None:
                self._deliver(message)
                continue
            if message_id in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(message_id)
                self._deliver(message)
                if self._respond is not None:
                    reply = self._respond(message)
                    if reply is not None:
                        await self.publish({**reply, REPLY_TO: message_id})
            if not self.hold_acks:
                await self._send(conn, json.dumps({ACK: [message_id]}))

    async def publish(self, body: dict[str, Any]) -> int:
        """Number ``body`` (the next ``"seq"``), keep it, and send it to the current
        connection if there is one (else it waits for the next resume). Returns its
        number. A connection that turns out closed is forgotten."""
        async with self._lock:
            number = len(self.published) + 1
            message = {**body, SEQ: number}
            self.published.append(message)
            current = self._current
            if current is not None:
                try:
                    await current.send_message(json.dumps(message))
                except trio_websocket.ConnectionClosed:
                    if self._current is current:
                        self._current = None
            return number

    async def wait_received(self, n: int) -> None:
        """Wait until the application has received ``n`` messages in all."""
        while len(self.received) < n:
            await self._changed.park()

    def _deliver(self, message: Any) -> None:
        self.received.append(message)
        self._changed.unpark_all()

    async def _resume(self, conn: ServerConnection, last: int | None) -> None:
        self.resumes.append(last)
        async with self._lock:
            start = 0 if last is None else max(0, last)
            for message in self.published[start:]:
                await conn.send_message(json.dumps(message))
            self._current = conn

    async def _send(self, conn: ServerConnection, text: str) -> None:
        async with self._lock:
            await conn.send_message(text)
