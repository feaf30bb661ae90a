"""The ``tether`` logger: one record per session event, at its level, with the
generation, the URL redacted (docs/reference.md, "Logging"); ``str(event)`` is the line
people read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

import tether
from tether import Backoff, Config, LostReason, events
from tether.testing import memory_server

URL = "ws://alice:s3cr3t@tether.test/feed?token=s3cr3t&room=1"
SHOWN = "ws://***@tether.test/feed?token=***&room=1"
CONFIG = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))


async def test_a_drop_a_reconnect_and_a_close_are_logged(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tether")
    async with (
        memory_server() as server,
        tether.connect(URL, config=CONFIG, opener=server.opener) as session,
    ):
        await trio.sleep(10)
        server.drop()  # stable for 10 s: reconnects at once
        await trio.sleep(0.1)
        await session.wait_connected()
        session.reconnect("rotate")
        await session.wait_connected()
    records = [
        (r.name, r.levelname, r.generation, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "tether"
    ]
    lost_by_drop = (
        "connection lost (generation 1): transport_error, code 1006: stream broke: "
        "BrokenResourceError('connection reset (memory server abort)')"
    )
    assert records == [
        ("tether", "DEBUG", 1, f"connecting to {SHOWN} (generation 1, attempt 1)"),
        ("tether", "INFO", 1, f"connected to {SHOWN} (generation 1)"),
        ("tether", "INFO", 1, lost_by_drop),
        ("tether", "DEBUG", 2, f"connecting to {SHOWN} (generation 2, attempt 1)"),
        ("tether", "INFO", 2, f"connected to {SHOWN} (generation 2)"),
        ("tether", "INFO", 2, "connection lost (generation 2): superseded: rotate"),
        ("tether", "DEBUG", 3, f"connecting to {SHOWN} (generation 3, attempt 1)"),
        ("tether", "INFO", 3, f"connected to {SHOWN} (generation 3)"),
        ("tether", "INFO", 3, "closed (code 1000)"),
    ]
    assert "s3cr3t" not in caplog.text


async def test_a_timeout_and_a_fatal_error_are_warnings(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether")
    config = Config(ping_interval=None, idle_timeout=5)
    async with memory_server() as server:
        server.reject(1, status=401)
        with pytest.raises(tether.HandshakeRejected):
            async with tether.connect("ws://tether.test/", config=config, opener=server.opener):
                pass  # pragma: no cover - never opens
    (failed,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert failed.getMessage() == "failed: HandshakeRejected(401): handshake rejected with HTTP 401"
    caplog.clear()
    async with (
        memory_server() as server,
        tether.connect("ws://tether.test/", config=config, opener=server.opener) as session,
    ):
        await trio.sleep(5.5)  # the server says nothing: idle timeout at 5
        assert session.generation == 2
    warnings = [(r.generation, r.getMessage()) for r in caplog.records if r.levelno == 30]  # type: ignore[attr-defined]
    assert warnings == [(1, "connection lost (generation 1): idle_timeout: no message for 5 s")]


def test_the_library_prints_nothing_unless_the_application_configures_logging() -> None:
    handlers = logging.getLogger("tether").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            events.Connecting(generation=2, at=0, attempt=3, url=SHOWN),
            f"connecting to {SHOWN} (generation 2, attempt 3)",
        ),
        (
            events.Connected(generation=2, at=0, attempt=3, url=SHOWN),
            f"connected to {SHOWN} (generation 2)",
        ),
        (
            events.ConnectionLost(
                generation=4, at=0, reason=LostReason.PEER_CLOSED, code=1001, detail="going\n  away"
            ),
            "connection lost (generation 4): peer_closed, code 1001: going away",
        ),
        (
            events.ConnectionLost(
                generation=1, at=0, reason=LostReason.TRANSPORT_ERROR, code=None, detail=""
            ),
            "connection lost (generation 1): transport_error",
        ),
        (
            events.BackingOff(
                generation=1,
                at=0,
                attempt=2,
                delay=0.4567,
                error=ConnectionRefusedError(111, "refused"),
            ),
            "backing off 0.46 s before attempt 2: ConnectionRefusedError: [Errno 111] refused",
        ),
        (
            events.GaveUp(generation=3, at=0, error=TimeoutError("slow"), exhausted=True),
            "gave up: TimeoutError: slow",
        ),
        (
            events.GaveUp(generation=3, at=0, error=TimeoutError("slow")),
            "failed: TimeoutError: slow",
        ),
        (events.Closed(generation=3, at=0, code=None, reason=""), "closed (no connection open)"),
        (events.Closed(generation=3, at=0, code=4000, reason="bye"), "closed (code 4000)"),
        (
            events.MessagesDropped(generation=3, at=0, count=2),
            "2 buffered message(s) dropped unsent",
        ),
        (
            events.SequenceGap(generation=2, at=0, expected=7, received=10, missing=3),
            "sequence gap (generation 2): expected 7, got 10 (3 missing)",
        ),
        (
            events.UnacknowledgedDropped(generation=2, at=0, count=4),
            "4 unacknowledged message(s) dropped: no longer resent",
        ),
        (
            events.Rotated(generation=5, at=0, previous=4, reason="max_connection_age"),
            "rotated (max_connection_age): generation 5 took over from generation 4",
        ),
        (
            events.RotationFailed(
                generation=4,
                at=0,
                reason="rotate()",
                error=TimeoutError("connect attempt timed out"),
            ),
            "rotation failed (rotate()), generation 4 serves on: "
            "TimeoutError: connect attempt timed out",
        ),
    ],
)
def test_str_of_each_event_is_one_readable_line(event: events.Event, line: str) -> None:
    assert str(event) == line
    assert repr(event).startswith(type(event).__name__ + "(generation=")


def test_every_event_type_has_its_line_asserted() -> None:
    kinds = {
        getattr(events, name)
        for name in events.__all__
        if isinstance(getattr(events, name), type)
        and issubclass(getattr(events, name), events.Event)
        and getattr(events, name) is not events.Event
    }
    source = Path(__file__).read_text(encoding="utf-8")
    missing = sorted(kind.__name__ for kind in kinds if f"events.{kind.__name__}(" not in source)
    assert missing == [], f"add a str() case for {missing}"
