"""``tether connect``: an interactive WebSocket client that survives its connections.

Lines read from stdin are sent as messages (text; ``--binary`` decodes each line from
hex or base64 and sends a binary message); every message received is written to stdout,
one per line; session events go to stderr as one status line each. One
:func:`tether.connect` session carries it all, so the client reconnects by itself, and
lines read while no connection is open wait for the next one and go out in order.

The parts, each a module with one job:

* :mod:`.options`: the command-line arguments and :class:`~.options.ConnectOptions`;
* :mod:`.config_file`: the ``--config`` TOML file and its ``[connect]`` table;
* :mod:`.output`: status lines on stderr, received messages on stdout;
* :mod:`.stdin`: stdin lines into the session, in order;
* :mod:`.commands`: the in-session ``/`` commands on a terminal;
* :mod:`.pings`: ``--show-ping``, pings and pongs from the ``tether.protocol`` logger;
* :mod:`.verbose`: ``-v`` / ``-vv``, the library's loggers on stderr;
* :mod:`.runner`: one session from start to exit status.

Internal to the ``tether`` command: nothing here is library API.
"""
