"""The embedded server of ``tether demo``: the testing kit's
:class:`tether.testing.JsonDialectServer` (the generic JSON dialect's server side:
acknowledgements, each id once, numbered messages, resume) whose application echoes
every message, served on 127.0.0.1 by :class:`tether.testing.LoopbackServer` (which
also closes connections with a code and rejects handshakes: the server's faults).
"""

from __future__ import annotations

from typing import Any

import attrs

from ...testing import JsonDialectServer, LoopbackServer

__all__ = ["REJECT_STATUS", "RETRY_AFTER_SECONDS", "DemoServer", "echo"]

#: What the server's handshake rejection carries (the "restart" fault).
REJECT_STATUS = 503
RETRY_AFTER_SECONDS = 1


def echo(message: dict[str, Any]) -> dict[str, Any]:
    """The server application's answer to a new message with an id: its ``"text"``
    back, which the dialect server numbers and sends with ``"reply_to": id``."""
    return {"echo": message.get("text")}


@attrs.define
class DemoServer:
    """The demo's server: ``app`` speaks the dialect (``app.received``: what its
    application got, each id once; ``app.duplicates``: the copies it dropped), ``web``
    serves it (``web.port``, ``web.close(code)``, ``web.reject(n, status, headers)``)."""

    app: JsonDialectServer = attrs.field(factory=lambda: JsonDialectServer(respond=echo))
    web: LoopbackServer = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.web = LoopbackServer(self.app.handler)

    def handler_errors(self) -> list[Exception]:
        """What the dialect server raised on any connection (a bug: none expected)."""
        return [r.handler_error for r in self.web.connections if r.handler_error is not None]
