"""Session configuration: :class:`Config`, :class:`Backoff`, :class:`Compression`,
:class:`Overflow`, :class:`Rate`.

All durations are seconds (``float``); ``None`` disables the timer. Instances are frozen
attrs classes; invalid values raise :class:`tether.ConfigError` at construction, naming
the field (``Config(ping_timeout=-1)`` -> ``ConfigError: ping_timeout: must be > 0``).
Use ``attrs.evolve(config, ping_interval=5)`` to derive a variant.
"""

from __future__ import annotations

import enum
import functools
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._close_codes import SENDABLE_CODES_TEXT, sendable_close_code
from ._structure import Structurer, read_toml
from .exceptions import ConfigError

__all__ = ["Backoff", "Compression", "Config", "Overflow", "Rate"]


class Overflow(enum.Enum):
    """What ``send()`` does when the send buffer is full: it holds ``Config.send_buffer``
    messages, or the new message would take it past ``Config.send_buffer_bytes``."""

    BLOCK = "block"
    """Wait for room (backpressure). ``send_nowait()`` raises ``SendBufferFull``."""
    DROP_OLDEST = "drop_oldest"
    """Evict the oldest unwritten messages until the new one fits and emit
    ``MessagesDropped``; never waits. Raises ``SendBufferFull`` when the messages being
    written (which cannot be evicted) leave no room."""
    RAISE = "raise"
    """Raise ``SendBufferFull`` at once; the new message is not buffered."""


def _positive(allow_none: bool, allow_zero: bool = False) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        name = attribute.name
        if value is None:
            if allow_none:
                return
            raise ConfigError(f"{name}: must be a number, got None")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: must be a number of seconds, got {value!r}")
        if math.isnan(value) or math.isinf(value):
            raise ConfigError(f"{name}: must be finite, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(f"{name}: must be {bound}, got {value!r}")

    return check


def _count(allow_none: bool, minimum: int = 1) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        name = attribute.name
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: must be an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(f"{name}: must be >= {minimum}, got {value!r}")

    return check


def _instance_of(kind: type, label: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise ConfigError(f"{attribute.name}: must be {label}, got {value!r}")

    return check


def _sendable_close_code(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{attribute.name}: must be an int close code, got {value!r}")
    if not sendable_close_code(value):
        raise ConfigError(
            f"{attribute.name}: {value} cannot be sent in a Close frame (RFC 6455 section "
            f"7.4): use {SENDABLE_CODES_TEXT}"
        )


def _callable_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(f"{attribute.name}: must be a callable (error) -> bool, got {value!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """Delay schedule between connect attempts of one outage.

    Attempt ``n`` (1-based) of an outage waits up to ``min(maximum, initial *
    multiplier**(n-2))`` seconds (its step) before it starts, for ``n >= 2``. With
    ``jitter`` and ``bounded_jitter`` (the defaults) the window is first cut to the outage
    so far, ``cap = min(step, max(initial, outage seconds so far))``, and the delay is a
    uniform draw from ``[cap / 2, cap]`` ("equal jitter", Marc Brooker, AWS Architecture
    Blog, *Exponential Backoff And Jitter*, 2015): it spreads a herd of clients
    reconnecting after a server restart (a peak of attempts 6x below no jitter) while no
    session waits longer than the outage has lasted, so after a 10 s restart 10,000 or
    100,000 sessions are all back within 10 s (benchmarks/results/herd_model.md).
    ``bounded_jitter=False`` is "full jitter" (same article): a draw from ``[0, step]``,
    the same peak but the last sessions back only after about 30 s. The first attempt of
    an outage starts at once when ``first_immediate`` (a dropped connection is usually
    back on the first try); otherwise it waits one step.

    An outage ends only when a connection stays open for ``stable_after`` seconds: the
    loss of a shorter-lived connection continues the current outage (its attempts keep
    counting, the delay keeps growing, ``max_attempts`` applies). A server that accepts
    the handshake and then fails at once is therefore retried with growing delays, not
    in a tight loop. ``stable_after=0`` makes every open connection end the outage.

    A server's ``Retry-After`` (HTTP 429/503; delay-seconds or an IMF-fixdate, RFC 9110
    section 10.2.3) lengthens the delay before the next attempt to what it asks, never
    shortens it below the computed one, and is capped at ``retry_after_max`` seconds
    (``BackingOff.retry_after`` then shows what the server asked for).

    Defaults: ``initial=0.5`` s, ``maximum=30`` s, ``multiplier=2``, ``jitter=True``,
    ``first_immediate=True``, ``stable_after=5`` s, ``retry_after_max=300`` s (a server
    restart or a rate-limit window is minutes, not hours), ``bounded_jitter=True``.
    """

    initial: float = attrs.field(default=0.5, validator=_positive(allow_none=False))
    maximum: float = attrs.field(default=30.0, validator=_positive(allow_none=False))
    multiplier: float = attrs.field(default=2.0, validator=_positive(allow_none=False))
    jitter: bool = attrs.field(default=True, validator=_instance_of(bool, "a bool"))
    first_immediate: bool = attrs.field(default=True, validator=_instance_of(bool, "a bool"))
    bounded_jitter: bool = attrs.field(default=True, validator=_instance_of(bool, "a bool"))
    stable_after: float = attrs.field(
        default=5.0, validator=_positive(allow_none=False, allow_zero=True)
    )
    retry_after_max: float = attrs.field(
        default=300.0, validator=_positive(allow_none=False, allow_zero=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.multiplier < 1:
            raise ConfigError(f"multiplier: must be >= 1, got {self.multiplier!r}")
        if self.maximum < self.initial:
            raise ConfigError(
                f"maximum: must be >= initial ({self.initial!r}), got {self.maximum!r}"
            )


def _int_in(low: int, high: int, allow_none: bool = False) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{attribute.name}: must be an integer, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{attribute.name}: must be from {low} to {high}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class Compression:
    """permessage-deflate (RFC 7692), offered on every connection of the session; the
    server may decline it (messages then go uncompressed) or agree to it.

    The defaults take ``websockets``' client (which offers permessage-deflate with
    ``client_max_window_bits`` and compresses with ``memLevel=5``, its documented
    memory-conscious setting) as the anchor and differ in two places: the client's own
    window is 12 bits (4 KiB of history) instead of 15, which brings zlib's compressor
    from about 144 KiB to 32 KiB per connection that compresses, at a small cost in ratio
    for messages that repeat further back than 4 KiB; and messages under ``min_size``
    bytes go uncompressed. zlib's state is made only when the first message is
    compressed or inflated, and without context takeover it is dropped after each one,
    so an idle session with compression agreed costs no zlib memory.

    Attributes:
        client_max_window_bits: base-2 logarithm of the LZ77 window the client
            compresses with, 9-15 (default 12); offered, the server may lower it
            (section 7.1.2.2).
        server_max_window_bits: asked of the server for its window, 8-15, or ``None``
            (default): not asked, the server compresses with up to 15 bits (the
            decompressor then holds 32 KiB). A server that cannot honour it declines
            compression (section 7.1.2.1).
        client_no_context_takeover: compress each message on its own (default
            ``False``): no zlib state is kept between messages, at the cost of ratio for
            a stream of similar messages (section 7.1.1.2).
        server_no_context_takeover: ask the server to do the same, so the decompressor
            keeps no state between messages (default ``False``; section 7.1.1.1).
        compression_level: zlib level 0-9 (default 6, zlib's default).
        memory_level: zlib ``memLevel`` 1-9 (default 5, as ``websockets``).
        min_size: messages shorter than this many bytes (UTF-8 for text) are sent
            uncompressed (default 32; 0 compresses every message).

    Raises ``ConfigError`` for a value out of range.
    """

    client_max_window_bits: int = attrs.field(default=12, validator=_int_in(9, 15))
    server_max_window_bits: int | None = attrs.field(
        default=None, validator=_int_in(8, 15, allow_none=True)
    )
    client_no_context_takeover: bool = attrs.field(
        default=False, validator=_instance_of(bool, "a bool")
    )
    server_no_context_takeover: bool = attrs.field(
        default=False, validator=_instance_of(bool, "a bool")
    )
    compression_level: int = attrs.field(default=6, validator=_int_in(0, 9))
    memory_level: int = attrs.field(default=5, validator=_int_in(1, 9))
    min_size: int = attrs.field(default=32, validator=_count(allow_none=False, minimum=0))


@attrs.frozen(kw_only=True)
class Rate:
    """An outbound rate limit (``Config.send_rate``): at most ``messages`` messages per
    ``per`` seconds on average, and at most ``burst`` back to back (a token bucket of
    ``burst`` tokens refilled at ``messages / per`` tokens a second; each text or binary
    message takes one, and waits for one when there is none).

    In any window of ``per`` seconds at most ``messages + burst - 1`` messages leave.
    So ``burst=1`` (the default) keeps a server's own limit exactly, spread evenly:
    Binance's market streams allow 5 incoming messages a second,
    ``Rate(messages=5, per=1.0)`` (one every 0.2 s); Discord's gateway allows 120 per
    60 s, ``Rate(messages=120, per=60)`` (one every 0.5 s). A larger ``burst`` lets a
    quiet session send that many at once, with headroom left for it:
    ``Rate(messages=60, per=60, burst=61)`` stays within Discord's 120 per 60 s.

    Attributes:
        messages: an int >= 1.
        per: seconds, > 0 and finite (default 1.0).
        burst: an int >= 1 (default 1).

    Raises ``ConfigError`` for a value out of range.
    """

    messages: int = attrs.field(validator=_count(allow_none=False))
    per: float = attrs.field(default=1.0, validator=_positive(allow_none=False))
    burst: int = attrs.field(default=1, validator=_count(allow_none=False))

    @property
    def interval(self) -> float:
        """Seconds between two messages at the steady rate, ``per / messages``."""
        return self.per / self.messages


@attrs.frozen(kw_only=True)
class Config:
    """Everything that tunes a session. Seconds are floats; ``None`` disables a timer.

    Attributes:
        connect_timeout: bound on one attempt: TCP/TLS open, WebSocket handshake and
            ``on_connect`` (default 10 s).
        close_timeout: bound on a graceful close: flushing the send buffer, the Close
            frame and the peer's reply (default 5 s).
        ping_interval: seconds between WebSocket pings (RFC 6455 section 5.5.2) on an
            open connection (default 20 s; ``None``: no pings).
        ping_timeout: a pong must arrive this long after its ping, or the connection is
            lost with ``LostReason.PING_TIMEOUT`` (default 20 s). A half-open link is
            therefore detected within ``ping_interval + ping_timeout``.
        idle_timeout: the connection is lost with ``LostReason.IDLE_TIMEOUT`` when no text
            or binary message arrives for this long (default ``None``). Pongs do not reset
            it: pings catch a dead link, this catches a live peer whose stream is stuck.
            Both timers pause while the application is not reading (backpressure).
        backoff: the delay schedule between attempts (:class:`Backoff`).
        max_attempts: attempts per outage before giving up with ``ReconnectFailed``
            (default ``None``: unlimited).
        give_up_after: seconds continuously without an open connection before giving up
            with ``ReconnectFailed`` (default ``None``: never). Measured on Trio's clock.
        send_buffer: messages the send buffer holds while no connection is open or the
            writer is behind (default 1024).
        send_buffer_bytes: bytes the send buffer holds (default 16 MiB, ``2**24``): a
            message that would take it past this finds it full, as the 1025th message
            does. An empty buffer admits a message of any size, so any one message can
            be sent. Sizes are ``len()`` of the encoded message: exact for ``bytes`` and
            ASCII text; for other text it counts code points, at most 4 times fewer
            than its UTF-8 bytes.
        overflow: what ``send()`` does when that buffer is full (:class:`Overflow`,
            default ``BLOCK``), whether by count or by bytes.
        receive_buffer: messages received but not yet read by the application (default
            1024). When full the session stops reading the socket: backpressure reaches
            the server through TCP flow control; nothing is dropped and no timeout fires.
        receive_buffer_bytes: bytes of messages received but not yet read (default 16
            MiB, ``2**24``); the reader waits, as for ``receive_buffer``, before a
            message that would take it past this. It bounds what is held for
            ``on_connect`` too, which joins the buffer when ``on_connect`` returns (even
            past its bounds; the reader then waits until the buffer is below them). A
            message is always admitted into an empty buffer, so a budget below
            ``max_message_size`` is allowed: large messages then come one at a time.
            16 MiB holds 16 messages of the largest default size (what the
            ``websockets`` client holds with its defaults, ``max_queue=16`` of 1 MiB)
            while 1024 messages of up to 16 KiB, typical traffic, are bounded by the
            count. Sizes are ``len()``, as for ``send_buffer_bytes``. Raises
            ``ConfigError`` (either budget) unless an ``int`` >= 1.
        max_message_size: largest inbound message in bytes (default 1 MiB). A larger one
            closes that connection with code 1009 (RFC 6455 section 7.4.1) and, by
            default, ends the session (the server would send it again): the
            ``ReconnectFailed`` names the size and this setting.
        supersede_close_code: the close code sent when the session itself ends an
            open connection to replace it: the idle timeout (``idle_timeout``), or any
            other supersede the session decides on (default 1000; any code an endpoint
            may send: 1000-1003, 1007-1014, 3000-4999). ``Session.reconnect(code=...)``
            picks its own. A server may treat 1000 or 1001 as the end of a resumable
            session (Discord does; discord.py closes with 4000 to resume).
        max_connection_age: seconds after which an open connection is replaced without
            downtime, make-before-break, as ``Session.rotate()`` does (default ``None``:
            never). For servers that cut every connection at a fixed age (Binance: 24
            h), set it a little below that age. A rotation that cannot open its new
            connection leaves the old one serving (a ``RotationFailed`` event) and is
            tried again ``Backoff.maximum`` seconds later.
        compression: permessage-deflate (RFC 7692) offered with these settings
            (:class:`Compression`; default ``Compression()``, on like ``websockets``);
            ``None`` offers no extension. ``max_message_size`` bounds a compressed
            message's inflated size, enforced while it inflates.
        retry_if: ``(error) -> bool`` replacing the default retry-or-fail table
            (``tether.policy.default_retry_if``).
        send_rate: an outbound rate limit (:class:`Rate`) every text and binary message
            of the session obeys, whichever path writes it: ``send()``, the writer's
            batches (the flush after an outage included), and what ``on_connect``
            writes with ``Connection.send`` (so the delivery layer's resume,
            subscriptions, resent messages and heartbeats too). Messages wait for
            their turn, in order; one bucket serves the whole session, so a new
            connection does not start with a fresh burst. Control frames (Ping, Pong,
            Close) are not paced. Default ``None``: no limit, and no cost.
    """

    connect_timeout: float | None = attrs.field(default=10.0, validator=_positive(True))
    close_timeout: float | None = attrs.field(default=5.0, validator=_positive(True))
    ping_interval: float | None = attrs.field(default=20.0, validator=_positive(True))
    ping_timeout: float | None = attrs.field(default=20.0, validator=_positive(True))
    idle_timeout: float | None = attrs.field(default=None, validator=_positive(True))
    backoff: Backoff = attrs.field(factory=Backoff, validator=_instance_of(Backoff, "a Backoff"))
    max_attempts: int | None = attrs.field(default=None, validator=_count(allow_none=True))
    give_up_after: float | None = attrs.field(default=None, validator=_positive(True))
    send_buffer: int = attrs.field(default=1024, validator=_count(allow_none=False))
    send_buffer_bytes: int = attrs.field(default=2**24, validator=_count(allow_none=False))
    overflow: Overflow = attrs.field(
        default=Overflow.BLOCK, validator=_instance_of(Overflow, "an Overflow")
    )
    receive_buffer: int = attrs.field(default=1024, validator=_count(allow_none=False))
    receive_buffer_bytes: int = attrs.field(default=2**24, validator=_count(allow_none=False))
    max_message_size: int = attrs.field(default=2**20, validator=_count(allow_none=False))
    supersede_close_code: int = attrs.field(default=1000, validator=_sendable_close_code)
    max_connection_age: float | None = attrs.field(default=None, validator=_positive(True))
    compression: Compression | None = attrs.field(
        factory=Compression,
        validator=attrs.validators.optional(_instance_of(Compression, "a Compression or None")),
    )
    retry_if: Callable[[BaseException], bool] | None = attrs.field(
        default=None, validator=_callable_or_none
    )
    send_rate: Rate | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(_instance_of(Rate, "a Rate or None")),
    )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Config:
        """A ``Config`` from plain data: field names to numbers, booleans and strings,
        ``backoff``, ``compression`` and ``send_rate`` as nested mappings
        (``compression`` also ``True`` for the defaults, ``False`` or ``None`` for off;
        ``send_rate`` ``False`` or ``None`` for no limit), ``overflow`` by value
        (``"block"``, ``"drop_oldest"``, ``"raise"``); ``None`` or ``False`` disables an
        optional timer or limit. Types are checked strictly (``"5"`` is not a number,
        ``1.5`` is not an integer). ``retry_if`` cannot be loaded (it is code).

                Raises :class:`tether.ConfigError` with one line naming every bad key by its
                path, e.g. ``backoff.initial: expected a number, got 'fast'`` or
                ``pingg_interval: unknown key (did you mean ping_interval?)``.
        """
        return _structurer().structure(mapping, Config)

    @classmethod
    def from_toml(cls, path_or_text: str | os.PathLike[str]) -> Config:
        """A ``Config`` from a TOML file (a ``pathlib.Path``, or a ``str`` path) or TOML
        text (a ``str`` containing ``=``, ``[`` or a newline). Top-level keys are
        ``Config`` fields; a ``[backoff]`` table holds the :class:`Backoff` fields, a
        ``[send_rate]`` table the :class:`Rate` fields; TOML
        has no null, so ``idle_timeout = false`` disables a timer::

            ping_interval = 10
            idle_timeout = 60
            max_attempts = false
            overflow = "drop_oldest"

            [backoff]
            initial = 1.0
            maximum = 20

            [send_rate]
            messages = 5
            per = 1.0

        Raises :class:`tether.ConfigError` for a file that cannot be read, invalid TOML
        (with its line and column), or bad keys, as :meth:`from_mapping`.
        """
        return cls.from_mapping(read_toml(path_or_text))


_RETRY_IF_REFUSED = (
    "cannot be loaded from a file or mapping (it is a Python callable); set it in "
    "code: attrs.evolve(config, retry_if=fn)"
)


def _unknown_key_hint(path: str, key: str, cls: type) -> str | None:
    if cls is Config and key == "connect" and not path:
        return "the [connect] table is read by `tether connect --config`"
    return None


@functools.cache
def _structurer() -> Structurer:
    """The structurer of :meth:`Config.from_mapping`, built on first use."""
    retry_if_type = attrs.fields(attrs.resolve_types(Config)).retry_if.type
    return Structurer(
        [Backoff, Compression, Rate, Config],
        enums=[Overflow],
        refused=[(retry_if_type, _RETRY_IF_REFUSED)],
        unknown_key_hint=_unknown_key_hint,
    )
