"""Fault plans: what goes wrong, and when, as plain data.

A :class:`FaultPlan` is a frozen, sorted tuple of :class:`ScheduledFault` (``at`` seconds
after the plan starts, and the :data:`Fault` to inject). It is pure data: this module
never imports trio, so plans can be built, compared, printed and generated (with
:meth:`FaultPlan.random`, from a seed) without an event loop. The memory server executes
a plan on trio's clock with ``await server.run_plan(plan)``.

The faults mirror the memory server's methods; times are seconds (``float``):

==========================  =========================================================
``Drop()``                  ``server.drop()``: abort every connection, no Close frame
``Close(code, reason)``     ``server.close(code, reason)``: a Close frame from the server
``Stall(duration)``         ``server.stall()``, then ``server.resume()`` after ``duration``
``Slow(delay, duration)``   ``server.slow(delay)`` for ``duration``, then the previous delay
``Refuse(count)``           ``server.refuse(count)``: the next ``count`` opens are refused
``Reject(count, status,     ``server.reject(...)``: the next ``count`` handshakes get
headers, body)``            an HTTP ``status`` instead of 101
``Restart(downtime)``       ``server.restart(downtime)``: down for ``downtime``, then back
==========================  =========================================================
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

__all__ = [
    "Close",
    "Drop",
    "Fault",
    "FaultPlan",
    "Refuse",
    "Reject",
    "Restart",
    "ScheduledFault",
    "Slow",
    "Stall",
]


def _seconds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{attribute.name}: must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name}: must be finite and >= 0, got {value!r}")


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name}: must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{attribute.name}: must be >= 1, got {value!r}")


#: Close codes an endpoint may not put in a Close frame (RFC 6455 section 7.4.1).
RESERVED_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


def check_close_code(code: int) -> None:
    """Raise ``ValueError`` unless ``code`` may be sent in a Close frame (1000-4999,
    except 1004, 1005, 1006 and 1015)."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"code: must be an integer, got {code!r}")
    if not 1000 <= code <= 4999 or code in RESERVED_CLOSE_CODES:
        raise ValueError(f"code: not a close code an endpoint may send, got {code!r}")


def _close_code(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_close_code(value)


def _header_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), str(value)) for name, value in items)


@attrs.frozen
class Drop:
    """Abort every connection's stream: no Close frame; the client sees code 1006."""


@attrs.frozen
class Close:
    """The server sends a Close frame with ``code`` (default 1001) and ``reason``."""

    code: int = attrs.field(default=1001, validator=_close_code)
    reason: str = ""


@attrs.frozen
class Stall:
    """Half-open link: no bytes move either way on open connections for ``duration`` s."""

    duration: float = attrs.field(validator=_seconds)


@attrs.frozen
class Slow:
    """Every chunk is delivered ``delay`` s after it was sent, for ``duration`` s."""

    delay: float = attrs.field(validator=_seconds)
    duration: float = attrs.field(validator=_seconds)


@attrs.frozen
class Refuse:
    """The next ``count`` (default 1) connection attempts raise ConnectionRefusedError."""

    count: int = attrs.field(default=1, validator=_count)


@attrs.frozen
class Reject:
    """The next ``count`` handshakes are answered with HTTP ``status`` (default 503),
    ``headers`` (pairs of ``str``; a mapping is accepted) and ``body``."""

    count: int = attrs.field(default=1, validator=_count)
    status: int = attrs.field(
        default=503,
        validator=attrs.validators.and_(
            attrs.validators.instance_of(int), attrs.validators.ge(300), attrs.validators.le(599)
        ),
    )
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_header_pairs)
    body: bytes = b""


@attrs.frozen
class Restart:
    """The server goes down (open connections dropped, attempts refused) for
    ``downtime`` s, then comes back."""

    downtime: float = attrs.field(validator=_seconds)


Fault: TypeAlias = Drop | Close | Stall | Slow | Refuse | Reject | Restart
"""Any one fault (a union of the seven fault classes)."""

ALL_KINDS: tuple[type[Fault], ...] = (Drop, Close, Stall, Slow, Refuse, Reject, Restart)


def fault_span(fault: Fault) -> float:
    """How long ``fault`` lasts once applied, in seconds (0 for instantaneous ones)."""
    if isinstance(fault, (Stall, Slow)):
        return fault.duration
    if isinstance(fault, Restart):
        return fault.downtime
    return 0.0


@attrs.frozen
class ScheduledFault:
    """``fault`` applied ``at`` seconds after the plan starts."""

    at: float = attrs.field(validator=_seconds)
    fault: Fault = attrs.field(validator=attrs.validators.instance_of(ALL_KINDS))


def _sorted_faults(
    items: Iterable[ScheduledFault | tuple[float, Fault]],
) -> tuple[ScheduledFault, ...]:
    faults = [item if isinstance(item, ScheduledFault) else ScheduledFault(*item) for item in items]
    return tuple(sorted(faults, key=lambda item: item.at))


@attrs.frozen
class FaultPlan:
    """A schedule of faults, sorted by ``at`` (stable for equal times).

    ``FaultPlan([(1.0, Drop()), (5.0, Close(1012))])`` accepts
    :class:`ScheduledFault` instances or ``(at, fault)`` pairs.
    """

    faults: tuple[ScheduledFault, ...] = attrs.field(default=(), converter=_sorted_faults)

    @property
    def end(self) -> float:
        """Seconds after the start when the last fault's effect is over (0 when empty)."""
        return max((item.at + fault_span(item.fault) for item in self.faults), default=0.0)

    @classmethod
    def random(
        cls,
        seed: int | str | bytes,
        duration: float,
        mean_interval: float,
        kinds: Collection[type[Fault]] = ALL_KINDS,
    ) -> FaultPlan:
        """A repeatable random plan: the same arguments always give the same plan.

        Faults start within ``[0, duration)`` seconds and never overlap: the gap between
        the end of one fault's effect and the start of the next is exponentially
        distributed with mean ``mean_interval`` seconds (so is the first start). Each
        fault's kind is drawn uniformly from ``kinds`` (fault classes; default all
        seven). Parameters are drawn from ``random.Random(seed)``; times are rounded to
        milliseconds: ``Close`` codes from 1001/1011/1012/1013; ``Stall``, ``Restart``
        and ``Slow`` last up to ``mean_interval`` seconds, a ``Slow`` delay is up to
        ``mean_interval / 10``; ``Refuse`` and ``Reject`` counts are 1 to 3; ``Reject``
        uses 500, 502 or 503 (503 with a ``Retry-After`` of 1 to 5 seconds).

        Raises ``ValueError`` when ``duration < 0``, ``mean_interval <= 0`` or
        ``kinds`` is empty or holds something that is not a fault class.
        """
        if not duration >= 0:
            raise ValueError(f"duration: must be >= 0, got {duration!r}")
        if not mean_interval > 0:
            raise ValueError(f"mean_interval: must be > 0, got {mean_interval!r}")
        kinds = tuple(kinds)
        if not kinds or any(kind not in ALL_KINDS for kind in kinds):
            raise ValueError(
                f"kinds: must be a non-empty collection of fault classes, got {kinds!r}"
            )
        rng = random.Random(seed)
        faults: list[ScheduledFault] = []
        t = round(rng.expovariate(1 / mean_interval), 3)
        while t < duration:
            fault = _random_fault(rng, rng.choice(kinds), mean_interval)
            faults.append(ScheduledFault(t, fault))
            t = round(t + fault_span(fault) + rng.expovariate(1 / mean_interval), 3)
        return cls(faults)


def _random_fault(rng: random.Random, kind: type[Fault], mean_interval: float) -> Fault:
    def seconds(high: float) -> float:
        return round(rng.uniform(0, high), 3)

    if kind is Close:
        return Close(rng.choice((1001, 1011, 1012, 1013)))
    if kind is Stall:
        return Stall(seconds(mean_interval))
    if kind is Slow:
        return Slow(seconds(mean_interval / 10), seconds(mean_interval))
    if kind is Refuse:
        return Refuse(rng.randint(1, 3))
    if kind is Reject:
        count, status = rng.randint(1, 3), rng.choice((500, 502, 503))
        headers = {"Retry-After": str(rng.randint(1, 5))} if status == 503 else {}
        return Reject(count, status, headers)
    if kind is Restart:
        return Restart(seconds(mean_interval))
    return Drop()
