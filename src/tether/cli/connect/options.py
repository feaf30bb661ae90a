"""The command line of ``tether connect``: its ``argparse`` subparser (with the help
text and the options that set ``Config`` fields), and :func:`options_from_args`, which
resolves arguments and the ``--config`` file (:mod:`.config_file`) into one
:class:`ConnectOptions`, the command-line options overriding the file.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import tether
from tether.policy import DEFAULT_USER_AGENT, ENVIRONMENT

from .._format import header_names, redacted_proxy, redacted_urls
from .config_file import ConnectSettings, read_connect_file

__all__ = ["DEFAULT_EOF_TIMEOUT", "ConnectOptions", "add_parser", "options_from_args"]

#: Seconds ``tether connect`` keeps trying to connect once stdin has ended with nothing
#: to send (``--eof-timeout``): one ``connect_timeout`` (10 s) of an unreachable server,
#: long enough for a server that is starting, short enough for a script.
DEFAULT_EOF_TIMEOUT = 10.0

_DESCRIPTION = """\
Connect to a WebSocket server and keep the session alive across disconnects: lines read
from stdin are sent as messages, received messages are written to stdout (one per line),
and connection events go to stderr. Lines read while disconnected are sent, in order,
after the next connect. At end of input every line is sent, then the session closes
(Close 1000), printing what arrives until the server's Close; --wait keeps receiving
for a while first. Ctrl-C closes with Close 1001.

On a terminal, sent lines are marked '> ' and received ones '< ' (as wscat does;
piped output stays plain), and lines starting with '/' are commands:
  /ping                  send a WebSocket ping, show the round trip
  /reconnect             drop this connection and open a new one
  /close [CODE [REASON]] close the session (default 1000) and exit
  /stats                 the session's statistics()
  /help                  this list
  //text                 send '/text' (a leading '//' sends a literal '/')
-x MESSAGE (repeatable) is sent at the start of every connection, so subscriptions
come back after a reconnect. With stdin at its end and nothing to send (< /dev/null),
a server that cannot be reached ends the command after --eof-timeout (exit 1).
"""

_EPILOG = """\
examples:
  tether connect ws://127.0.0.1:8765/
  echo '{"op":"sub"}' | tether connect wss://feed.example/v1 --json --wait 2 | jq .
  tether connect ws://a.example/ ws://b.example/ -H "Authorization: Bearer $TOKEN"
  tether connect --config bot.toml --max-attempts 5
  tether connect --unix-socket /run/app/ws.sock ws://localhost/events
  tether connect wss://feed.example/v1 -x '{"op":"sub","channel":"trades"}' --timestamps
  tether connect ws://127.0.0.1:8765/ -vv --show-ping
  tether connect wss://feed.example/v1 --proxy http://user:pass@proxy.corp:3128

exit status:
  0    closed normally (end of input)
  1    gave up (--max-attempts or --give-up-after exhausted) or failed (a fatal error)
  2    bad arguments or configuration (ConfigError)
  3    handshake rejected (HTTP 401, 403 ...), or not a WebSocket endpoint (200, 404 ...)
  130  interrupted (Ctrl-C)

configuration file (--config, TOML): Config fields at the top level, a [backoff] table,
and an optional [connect] table; command-line options override the file:

  ping_interval = 10        # seconds; false disables
  idle_timeout = 60
  max_attempts = 8
  overflow = "block"        # or "drop_oldest", "raise"
  [backoff]
  initial = 0.5
  maximum = 20
  [connect]
  url = ["wss://a.example/v1", "wss://b.example/v1"]   # or one string
  headers = { Authorization = "Bearer abc" }
  subprotocols = ["v1.feed"]
  proxy = "socks5h://127.0.0.1:1080"   # or false: direct (default: the environment)
"""

#: Command-line options that set a ``Config`` field: (flag, field, kind, help).
_CONFIG_OPTIONS: Sequence[tuple[str, str, str, str]] = (
    ("--ping-interval", "ping_interval", "seconds", "seconds between pings (default 20)"),
    ("--ping-timeout", "ping_timeout", "seconds", "a pong must arrive within (default 20)"),
    ("--idle-timeout", "idle_timeout", "seconds", "reconnect after no message for (default off)"),
    ("--connect-timeout", "connect_timeout", "seconds", "bound on one attempt (default 10)"),
    ("--close-timeout", "close_timeout", "seconds", "bound on the closing handshake (default 5)"),
    (
        "--give-up-after",
        "give_up_after",
        "seconds",
        "give up after disconnected for (default never)",
    ),
    (
        "--max-attempts",
        "max_attempts",
        "count",
        "give up after attempts per outage (default unlimited)",
    ),
    (
        "--send-buffer",
        "send_buffer",
        "count",
        "messages buffered while disconnected (default 1024)",
    ),
)


@attrs.frozen(kw_only=True)
class ConnectOptions:
    """Everything ``tether connect`` runs with, resolved from arguments and ``--config``.

    Attributes:
        urls: URLs tried in order within each outage (redacted in the ``repr``).
        config: the session's :class:`tether.Config`.
        headers: extra handshake headers (only their names in the ``repr``).
        subprotocols: ``Sec-WebSocket-Protocol`` values offered.
        user_agent: the ``User-Agent`` sent (default
            :data:`tether.policy.DEFAULT_USER_AGENT`; ``None``: none).
        origin: the ``Origin`` sent (default ``None``: none).
        insecure: TLS without certificate verification (default ``False``).
        unix_socket: connect to this Unix domain socket instead of TCP (the URL still
            gives the ``Host`` header and the resource); default ``None``.
        proxy: a proxy URL, ``None`` (direct), or ``"environment"`` (the default:
            ``https_proxy``, ``http_proxy``, ``all_proxy``, ``no_proxy``); redacted in the
            ``repr``.
        json: JSON output (default ``False``).
        binary: stdin lines are hex/base64 and sent as binary messages (default ``False``).
        input_format: ``"hex"`` (default) or ``"base64"``: how ``--binary`` lines are
            decoded, and how received binary messages are printed.
        wait: seconds to keep receiving after end of input (default 0).
        quiet: no status lines on stderr, only warnings and errors (default ``False``).
        stdin_fd: file descriptor lines are read from (default 0).
        verbose: 0 (default): event status lines; 1 (``-v``): the ``tether`` logger at
            INFO on stderr instead; 2 (``-vv``): DEBUG, ``tether.protocol`` included.
        timestamps: prefix each line with the local time, ``HH:MM:SS.mmm`` (default
            ``False``).
        execute: messages sent at the start of every generation, from ``on_connect``
            (``-x``, in order; default none).
        show_ping: print every ping and pong, with the round trip (default ``False``).
        commands: in-session ``/`` commands: ``None`` (default) when stdin is a
            terminal, or forced on/off.
        eof_timeout: seconds: with stdin at its end and nothing to send, stop (exit 1)
            if no connection opened within this long (default 10; ``None``: never).
    """

    urls: tuple[str, ...] = attrs.field(repr=redacted_urls)
    config: tether.Config = attrs.field(factory=tether.Config)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=header_names)
    subprotocols: tuple[str, ...] = ()
    user_agent: str | None = DEFAULT_USER_AGENT
    origin: str | None = None
    insecure: bool = False
    unix_socket: str | None = None
    proxy: str | None = attrs.field(default=ENVIRONMENT, repr=redacted_proxy)
    json: bool = False
    binary: bool = False
    input_format: str = "hex"
    wait: float = 0.0
    quiet: bool = False
    stdin_fd: int = 0
    verbose: int = 0
    timestamps: bool = False
    execute: tuple[str, ...] = ()
    show_ping: bool = False
    commands: bool | None = None
    eof_timeout: float | None = DEFAULT_EOF_TIMEOUT


# ---------------------------------------------------------------------- arguments


def _seconds_or_off(text: str) -> float | None:
    if text.lower() in ("off", "none", "false"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds (or off): {text!r}") from None


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds: {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    """``Name: value``. The error never quotes ``text``: it may hold a credential."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c.isspace() for c in name):
        # Nothing of the text is shown: a mistyped entry may have put a credential in
        # what looks like the name (--header "X-Key=s3cr3t more: x").
        raise argparse.ArgumentTypeError(
            "expected 'Name: value' with no space in the name; the text is not shown"
        )
    return name, value.strip()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``connect`` to the ``tether`` command's subparsers."""
    parser = commands.add_parser(
        "connect",
        help="an interactive client that reconnects by itself",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "urls", nargs="*", metavar="URL", help="ws:// or wss:// URL(s), failover order"
    )
    output = parser.add_argument_group("input and output")
    output.add_argument(
        "--json",
        action="store_true",
        help="JSON output: compact, one valid JSON value per line when stdout is not a "
        "terminal (pipe it to jq); pretty and coloured on a terminal; non-JSON messages "
        "are printed as JSON strings",
    )
    output.add_argument(
        "--binary", action="store_true", help="send each stdin line as a binary message"
    )
    output.add_argument(
        "--input-format",
        choices=("hex", "base64"),
        default="hex",
        help="encoding of --binary lines and of received binary messages (default: hex)",
    )
    output.add_argument(
        "--wait",
        type=_wait_seconds,
        default=0.0,
        metavar="SECONDS",
        help="after end of input, keep receiving this long before closing (default: 0)",
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no status lines on stderr")
    output.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: the session log (tether logger) at INFO on stderr instead of status "
        "lines; -vv: DEBUG too, with the handshake and every frame (tether.protocol: "
        "opcode, length, flags; never a payload or a header value)",
    )
    output.add_argument(
        "--timestamps", action="store_true", help="prefix every line with the time (HH:MM:SS.mmm)"
    )
    output.add_argument(
        "-x",
        "--execute",
        action="append",
        default=[],
        metavar="MESSAGE",
        help="send MESSAGE at the start of every connection, before buffered lines "
        "(repeatable, in order): subscriptions come back after each reconnect",
    )
    output.add_argument(
        "--show-ping",
        action="store_true",
        help="print each ping and pong (keepalive, the server's, /ping) with the round trip",
    )
    output.add_argument(
        "--eof-timeout",
        type=_seconds_or_off,
        default=DEFAULT_EOF_TIMEOUT,
        metavar="SECONDS",
        help="with stdin at its end and nothing to send, give up (exit 1) if not "
        f"connected within SECONDS (default: {DEFAULT_EOF_TIMEOUT:g}; off: never)",
    )
    slash = output.add_mutually_exclusive_group()
    slash.add_argument(
        "--commands",
        dest="commands",
        action="store_const",
        const=True,
        default=None,
        help="treat lines starting with / as commands even when stdin is not a terminal",
    )
    slash.add_argument(
        "--no-commands",
        dest="commands",
        action="store_const",
        const=False,
        help="send lines starting with / as they are, even on a terminal",
    )
    handshake = parser.add_argument_group("handshake")
    handshake.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra handshake header (repeatable)",
    )
    handshake.add_argument(
        "--subprotocol",
        dest="subprotocols",
        action="append",
        default=[],
        metavar="NAME",
        help="subprotocol to offer (repeatable, in preference order)",
    )
    handshake.add_argument(
        "--user-agent",
        metavar="TEXT",
        help="User-Agent to send instead of trio-tether/VERSION Python/X.Y ('' sends none)",
    )
    handshake.add_argument(
        "--origin",
        metavar="ORIGIN",
        help="Origin to send: scheme://host[:port], e.g. https://app.example (default: none)",
    )
    handshake.add_argument(
        "--insecure",
        action="store_true",
        help="wss:// without verifying the server's certificate (dangerous; warns loudly)",
    )
    handshake.add_argument(
        "--unix-socket",
        metavar="PATH",
        help="connect to the Unix domain socket at PATH instead of TCP; the URL still "
        "gives the Host header and the path (wss:// does TLS for the URL's host)",
    )
    route = handshake.add_mutually_exclusive_group()
    route.add_argument(
        "--proxy",
        metavar="URL",
        help="connect through this proxy: http://, https://, socks5://, socks5h://, "
        "socks4://, socks4a:// (user:password@ allowed; default: https_proxy, http_proxy, "
        "all_proxy and no_proxy from the environment)",
    )
    route.add_argument(
        "--no-proxy",
        action="store_true",
        help="connect directly, whatever the environment's proxy variables say",
    )
    _add_config_options(parser)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "session", "seconds are decimal numbers; 'off' disables a timer or limit"
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file: Config fields, [backoff] and [connect] tables (see below)",
    )
    for flag, field, kind, text in _CONFIG_OPTIONS:
        group.add_argument(
            flag,
            dest=f"config_{field}",
            type=_seconds_or_off if kind == "seconds" else _count,
            default=argparse.SUPPRESS,
            metavar="SECONDS" if kind == "seconds" else "N",
            help=text,
        )
    group.add_argument(
        "--no-compression",
        dest="config_compression",
        action="store_false",
        default=argparse.SUPPRESS,
        help="offer no permessage-deflate (RFC 7692); by default it is offered and used "
        "when the server agrees",
    )


def options_from_args(args: argparse.Namespace) -> ConnectOptions:
    """Resolve arguments and ``--config`` into :class:`ConnectOptions`. Raises
    :class:`tether.ConfigError` for a bad file, a bad value or no URL."""
    document: dict[str, Any] = {}
    settings = ConnectSettings()
    if args.config is not None:
        document, settings = read_connect_file(args.config)
    overrides = {
        field: getattr(args, f"config_{field}")
        for _, field, _, _ in _CONFIG_OPTIONS
        if hasattr(args, f"config_{field}")
    }
    if hasattr(args, "config_compression"):
        overrides["compression"] = False
    config = tether.Config.from_mapping({**document, **overrides})
    urls = tuple(args.urls) or settings.url
    if not urls:
        raise tether.ConfigError("no URL: give one, or url in the [connect] table of --config")
    return ConnectOptions(
        urls=urls,
        config=config,
        headers={**settings.headers, **dict(args.headers)},
        subprotocols=tuple(args.subprotocols) or settings.subprotocols,
        user_agent=(DEFAULT_USER_AGENT if args.user_agent is None else (args.user_agent or None)),
        origin=args.origin,
        insecure=args.insecure,
        unix_socket=args.unix_socket,
        proxy=None if args.no_proxy else (args.proxy or settings.proxy),
        json=args.json,
        binary=args.binary,
        input_format=args.input_format,
        wait=args.wait,
        quiet=args.quiet,
        verbose=args.verbose,
        timestamps=args.timestamps,
        execute=tuple(args.execute),
        show_ping=args.show_ping,
        commands=args.commands,
        eof_timeout=args.eof_timeout,
    )
