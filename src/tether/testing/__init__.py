"""Test tools shipped with trio-tether: an in-memory WebSocket server with fault
injection, seeded fault plans, and a loopback chaos proxy.

* :func:`memory_server` runs a WebSocket server over in-memory streams; pass
  ``server.opener`` to ``tether.connect(..., opener=...)``. Everything runs on trio's
  clock, so tests under ``MockClock(autojump_threshold=0)`` assert exact virtual times.
* :class:`FaultPlan` schedules faults (:class:`Drop`, :class:`Close`, :class:`Stall`,
  :class:`Slow`, :class:`Refuse`, :class:`Reject`, :class:`Restart`) as pure data;
  ``FaultPlan.random(seed, ...)`` builds a repeatable one; ``server.run_plan(plan)``
  executes it.
* :class:`ChaosProxy` puts the same faults between real loopback sockets.
* :func:`serve_websocket` serves trio-websocket handlers on 127.0.0.1, answering pings
  only while a connection is open (trio-websocket's own server crashes when a client's
  Ping crosses its Close frame).
* :class:`LoopbackServer` serves a handler of the memory server's kind on 127.0.0.1
  (real sockets, behind a :class:`ChaosProxy`), with the server's own faults: a Close
  with a code, handshakes rejected with a status.
* :class:`JsonDialectServer` is the server side of the generic JSON dialect
  (:func:`tether.delivery.json_dialect`): acknowledgements, numbered messages, resume.
"""

from ._faults import (
    Close,
    Drop,
    Fault,
    FaultPlan,
    Refuse,
    Reject,
    Restart,
    ScheduledFault,
    Slow,
    Stall,
)
from ._handlers import Handler, echo
from ._json_dialect import JsonDialectServer
from ._loopback_server import LoopbackServer
from ._memory_server import MemoryServer, memory_server
from ._proxy import ChaosProxy, ProxyStats
from ._server_connection import ConnectionRecord, ServerConnection
from ._ws_server import serve_websocket

__all__ = [
    "ChaosProxy",
    "Close",
    "ConnectionRecord",
    "Drop",
    "Fault",
    "FaultPlan",
    "Handler",
    "JsonDialectServer",
    "LoopbackServer",
    "MemoryServer",
    "ProxyStats",
    "Refuse",
    "Reject",
    "Restart",
    "ScheduledFault",
    "ServerConnection",
    "Slow",
    "Stall",
    "echo",
    "memory_server",
    "serve_websocket",
]
