"""``tether demo``: one session through a scripted storm of network faults.

What runs, all in one process on 127.0.0.1:

* an embedded WebSocket server (:mod:`.server`): the testing kit's
  :class:`tether.testing.JsonDialectServer`, the generic JSON dialect's server side,
  whose application echoes every message, served by
  :class:`tether.testing.LoopbackServer`, which can, on command, close its connections
  with a code (1001 "going away") or reject the next handshakes with ``503`` and
  ``Retry-After: 1``;
* a :class:`tether.testing.ChaosProxy` in front of it, which can reset connections,
  stall them (a half-open link), or stop listening (connects refused);
* a ``tether.delivery`` session to the proxy with :func:`tether.delivery.json_dialect`:
  a sender writes ``{"id": n, "text": "msg-<n>"}`` every 20 ms with ``await
  delivery.send()``, a receiver reads the server's numbered echoes with ``await
  delivery.receive()``, and every session event is printed as it happens (the
  ``on_event`` callback, :mod:`.tracker`), labelled with the generation it is about and
  numbered by attempt within that generation;
* a fault schedule (:mod:`.scenario`), spread over ``--duration`` seconds, one fault at
  a time, each at least the worst-case recovery of the previous one later, so that the
  header's ``schedule:`` is when the faults fire (a short ``--duration`` runs longer).

A WebSocket client cannot know whether bytes it wrote before a link died ever reached
the server: a stalled link swallows every message written during the ping timeout, a
reset loses what was in flight. The session guarantees each message is *written*;
knowing it was *processed* takes an acknowledgement, which is the delivery layer's job:
it keeps each message until the server acknowledges it (``{"ack": [n]}``) and, on every
new connection, sends ``{"resume": last_seq}`` and then the unacknowledged messages,
oldest first, before anything newer; the server takes each id once and replays the
echoes numbered after ``last_seq``, of which the client drops any it has seen. A note
after each reconnect says what it resumed from and resent. ``--no-replay`` tracks no
ids (:func:`.runner.demo_dialect`) and shows the loss. :mod:`.ledger` keeps the
application's books (which echoes came back), :mod:`.counts` reads every counter.

At the end the demo stops sending, waits up to 5 s for the outstanding
acknowledgements and echoes, closes
the session and prints a summary and a legend of every field of the lines and the
summary (:data:`.report.LINE_LEGEND`, :data:`.report.LEGEND`; ``tether demo --help``
shows it too). Exit status 0, or 1 if a message was lost, repeated or out of order, a
gap was seen, or the session failed.

All output goes through one :class:`~.report.Reporter`: plain lines (``--plain``, and
whenever stdout is not a terminal), coloured lines (``--rich``), or, on a terminal, the
live view of :mod:`.live_view` (``--live``), which redraws a panel with the session's
state, counters, a timeline of generations and the last events. :mod:`.runner` puts it
all together.

Internal to the ``tether`` command: nothing here is library API.
"""
