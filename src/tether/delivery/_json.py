"""The generic JSON dialect: ids, acknowledgements, sequence numbers and resume over
JSON objects (docs/delivery.md has the wire format). Pure: no I/O, no trio.

Client to server: any object; one with ``"id"`` (a ``str`` or an ``int``) is
acknowledged by the server. ``{"resume": last}`` is sent first on every connection,
``last`` the last sequence number seen (``null`` before any). ``{"ping": n}`` is a
heartbeat (n = 1, 2, ... on each connection), when the delivery layer is asked for
heartbeats.

Server to client: ``{"ack": [id, ...]}`` acknowledges (not numbered, not handed to
the application); every other object carries ``"seq"``, numbered 1, 2, 3 ...; a reply
to a request names it with ``"reply_to": id``. ``{"pong": n}`` answers a heartbeat
(not numbered, not handed to the application).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ._dialect import Dialect

__all__ = ["ACK", "ID", "PING", "PONG", "REPLY_TO", "RESUME", "SEQ", "json_dialect"]

#: The keys of the generic JSON dialect.
ID = "id"
ACK = "ack"
SEQ = "seq"
RESUME = "resume"
REPLY_TO = "reply_to"
PING = "ping"
PONG = "pong"


def _is_id(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def json_dialect(
    *,
    id: str = ID,
    ack: str = ACK,
    seq: str = SEQ,
    resume: str = RESUME,
    reply_to: str = REPLY_TO,
    ping: str = PING,
    pong: str = PONG,
) -> Dialect:
    """The generic JSON dialect, for messages decoded by :class:`tether.JsonCodec` (a
    message that is not a JSON object has no id and no sequence number). The keyword
    arguments rename the keys (defaults ``"id"``, ``"ack"``, ``"seq"``, ``"resume"``,
    ``"reply_to"``, ``"ping"``, ``"pong"``). Its heartbeat is ``{"ping": n}``, answered
    by any object with ``"pong"``. An id is a ``str`` or an ``int`` (not a ``bool``); a sequence
    number an ``int``; other values count as absent.

    ``tether.testing.JsonDialectServer`` is its server side, for tests."""

    def message_id(message: Any) -> Hashable | None:
        if isinstance(message, dict):
            value = message.get(id)
            if _is_id(value):
                return value
        return None

    def acknowledged(message: Any) -> Iterable[Hashable]:
        if isinstance(message, dict):
            ids = message.get(ack)
            if isinstance(ids, list):
                return [value for value in ids if _is_id(value)]
        return ()

    def control(message: Any) -> bool:
        return isinstance(message, dict) and ack in message and seq not in message

    def sequence(message: Any) -> int | None:
        if isinstance(message, dict):
            value = message.get(seq)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def resume_message(last_sequence: int | None) -> dict[str, Any]:
        return {resume: last_sequence}

    def replied(message: Any) -> Hashable | None:
        if isinstance(message, dict):
            value = message.get(reply_to)
            if _is_id(value):
                return value
        return None

    def heartbeat(number: int, last_sequence: int | None) -> dict[str, Any]:
        return {ping: number}

    def heartbeat_reply(message: Any) -> bool:
        return isinstance(message, dict) and pong in message

    return Dialect(
        message_id=message_id,
        acknowledged=acknowledged,
        control=control,
        sequence=sequence,
        resume=resume_message,
        reply_to=replied,
        heartbeat=heartbeat,
        heartbeat_reply=heartbeat_reply,
    )
