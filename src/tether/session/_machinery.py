"""The parts of one session, built and wired together once: each part has one job and
is handed only the parts it works with.

::

    Session ──> Writer ──────────┐        (sends)
       │   ──> ReceiveBuffer     │        (receives)
       │   ──> Supervisor ──> GenerationRunner ──> keepalive, Closer, Writer
       │   ──> Closer            │
       └── all of them share: Lifecycle (state), GenerationSlot (the current
           generation), EventHub (events), Counters (statistics), the buffers
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import attrs

from ..codec import Codec
from ..config import Config
from ..connection import Opener
from ..events import Event
from ..policy import TokenBucket
from ._buffers import ReceiveBuffer, SendBuffer
from ._closing import Closer
from ._counters import Counters
from ._encoding import MessageEncoding
from ._event_hub import EventHub
from ._generation import GenerationSlot
from ._lifecycle import Lifecycle
from ._runner import GenerationRunner, HeadersArg, OnConnect
from ._supervisor import Supervisor
from ._targets import Targets
from ._writer import PacedWriter, Writer

__all__ = ["Machinery", "build_machinery"]


@attrs.define(eq=False)
class Machinery:
    """Everything under one :class:`tether.Session`."""

    config: Config
    lifecycle: Lifecycle
    slot: GenerationSlot
    hub: EventHub
    counters: Counters
    encoding: MessageEncoding
    send_buffer: SendBuffer
    receive_buffer: ReceiveBuffer
    closer: Closer
    writer: Writer
    supervisor: Supervisor


def build_machinery(
    targets: Targets,
    *,
    config: Config,
    on_connect: OnConnect | None,
    headers: HeadersArg,
    subprotocols: Sequence[str],
    user_agent: str | None,
    origin: str | None,
    fixed_host: bool,
    codec: Codec | None,
    opener: Opener,
    rng: random.Random,
    on_event: Callable[[Event], None] | None,
) -> Machinery:
    """Build one session's parts (no I/O; nothing runs until ``supervisor.run()``)."""
    lifecycle = Lifecycle()
    slot = GenerationSlot()
    hub = EventHub(on_event)
    counters = Counters()
    encoding = MessageEncoding(codec)
    send_buffer = SendBuffer(config.send_buffer, config.send_buffer_bytes, config.overflow)
    receive_buffer = ReceiveBuffer(config.receive_buffer, config.receive_buffer_bytes)
    closer = Closer(config, lifecycle, send_buffer, slot)
    pacer = None if config.send_rate is None else TokenBucket(config.send_rate)
    writer = (
        Writer(send_buffer, slot, closer, lifecycle, counters, hub)
        if pacer is None
        else PacedWriter(send_buffer, slot, closer, lifecycle, counters, hub, pacer)
    )
    runner = GenerationRunner(
        config,
        targets=targets,
        opener=opener,
        headers=headers,
        subprotocols=subprotocols,
        user_agent=user_agent,
        origin=origin,
        fixed_host=fixed_host,
        on_connect=on_connect,
        encoding=encoding,
        lifecycle=lifecycle,
        counters=counters,
        hub=hub,
        send_buffer=send_buffer,
        receive_buffer=receive_buffer,
        closer=closer,
        writer=writer,
        slot=slot,
        pacer=pacer,
    )
    supervisor = Supervisor(
        targets,
        config,
        rng=rng,
        runner=runner,
        slot=slot,
        closer=closer,
        lifecycle=lifecycle,
        counters=counters,
        hub=hub,
        send_buffer=send_buffer,
        receive_buffer=receive_buffer,
    )
    return Machinery(
        config=config,
        lifecycle=lifecycle,
        slot=slot,
        hub=hub,
        counters=counters,
        encoding=encoding,
        send_buffer=send_buffer,
        receive_buffer=receive_buffer,
        closer=closer,
        writer=writer,
        supervisor=supervisor,
    )
