"""Issue 10, item 4: secrets stay out of events, errors, reprs and the CLI.

The URL as given carries a password (``user:password@``) and a token in its query, and
a header carries a bearer token. What is shown (events, errors and their chains, reprs,
``tether connect``'s output) has none of them; what is requested is unchanged.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest
import trio
import trio.testing

import tether
from tether import Backoff, Config, events
from tether.policy import parse_url, redact_url
from tether.testing import ServerConnection, memory_server

from ..cli.support import TIMEOUT, WsServer, run_tether

SECRET = "s3cr3t"
URL = f"ws://alice:{SECRET}-pass@host/feed?token={SECRET}-token&room=1"
SHOWN = "ws://***@host/feed?token=***&room=1"
HEADERS = {"Authorization": f"Bearer {SECRET}-header"}
BODY = b"service unavailable, come back later"
CONFIG = Config(
    ping_interval=None,
    connect_timeout=5,
    max_attempts=2,
    backoff=Backoff(initial=1, jitter=False),
)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and every error of its ``__cause__``/``__context__`` chain (bounded)."""
    seen: list[BaseException] = []
    pending = [error]
    while pending and len(seen) < 50:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exceptions", ()))
    return iter(seen)


def _texts_of(error: BaseException | None) -> list[str]:
    texts: list[str] = []
    for item in _chain(error):
        texts += [str(item), repr(item), *map(str, getattr(item, "args", ()))]
        texts += traceback.format_exception(item)
    return texts


async def _echo(conn: ServerConnection) -> None:
    while True:
        await conn.send_message(await conn.get_message())


async def _memory_scenario() -> tuple[list[str], list[events.Event], list[str | None]]:
    """Connected, a loss, a 503 with a body, a connect timeout, giving up: what all of it
    shows, the events, and the request targets the server saw."""
    shown: list[str] = []
    recorded: list[events.Event] = []
    handles: list[tether.Connection] = []

    async def on_connect(conn: tether.Connection) -> None:
        handles.append(conn)

    with trio.fail_after(600):
        async with memory_server(_echo) as server:
            calls = 0

            async def opener(host: str, port: int, tls: bool) -> trio.abc.Stream:
                nonlocal calls
                calls += 1
                if calls == 3:  # the attempt after the 503 never gets an answer
                    await trio.sleep_forever()
                return await server.opener(host, port, tls)

            failure: BaseException | None = None
            try:
                async with tether.connect(
                    URL,
                    config=CONFIG,
                    headers=HEADERS,
                    opener=opener,
                    on_connect=on_connect,
                    on_event=recorded.append,
                ) as session:
                    shown += [repr(session), str(session), repr(session.statistics())]
                    await session.send("hello")
                    assert await session.receive() == "hello"
                    await trio.sleep(10)  # a stable connection: its loss starts an outage
                    server.reject(1, 503, {"Retry-After": "1"}, BODY)
                    with session.events() as stream:
                        server.drop()
                        async for event in stream:
                            if isinstance(event, events.ConnectionLost):
                                break
                    session.send_nowait("never sent")  # dropped unsent when it gives up
                    shown.append(repr(session.statistics()))
                    try:
                        await session.receive()
                    except tether.ReconnectFailed as exc:
                        failure = exc
                    shown.append(repr(session.statistics()))
            except tether.TetherError as exc:
                failure = failure or exc
            assert isinstance(failure, tether.ReconnectFailed)
            shown += _texts_of(failure)
            paths = [record.path for record in server.connections]
            authorizations = [record.headers.get("authorization") for record in server.connections]
    assert authorizations[0] == HEADERS["Authorization"]  # the header is sent as given

    for event in recorded:
        shown += [repr(event), str(event)]
        shown += _texts_of(getattr(event, "error", None))
    for conn in handles:
        shown += [repr(conn), str(conn), conn.url]
    shown += [repr(CONFIG), repr(parse_url(URL))]
    for bad in (f"ws://alice:{SECRET}@host:x/?token={SECRET}", f"ws://a:{SECRET}/x@h/"):
        with pytest.raises(tether.ConfigError) as raised:
            async with tether.connect(bad):
                pass  # pragma: no cover - connect() refuses the URL
        shown += _texts_of(raised.value)
    return shown, recorded, paths


async def _cli_scenario() -> list[str]:
    """``tether connect`` with the same secrets: an echo run, one that gives up, one
    that is refused its arguments; stdout and stderr of each."""
    outputs: list[str] = []
    with trio.fail_after(3 * TIMEOUT):
        async with trio.open_nursery() as nursery:
            server = WsServer()
            await server.start(nursery)
            url = f"ws://alice:{SECRET}-pass@127.0.0.1:{server.port}/feed?token={SECRET}-token"
            header = f"Authorization: Bearer {SECRET}-header"
            dead = f"ws://alice:{SECRET}-pass@127.0.0.1:1/feed?api_key={SECRET}-key"
            runs = [
                ("connect", url, "-H", header, "--wait", "0.5"),
                ("connect", dead, "-H", header, "--max-attempts", "2"),
                ("connect", dead, "-q", "--max-attempts", "1"),
                ("connect", f"ws://alice:{SECRET}@127.0.0.1:x/", "-H", header),
            ]
            for args in runs:
                result = await run_tether(*args, stdin=b"hello\n")
                outputs.append(result.stdout.decode() + result.stderr.decode())
            assert server.handshakes[0][0].startswith("/feed")
            assert server.handshakes[0][1]["authorization"] == f"Bearer {SECRET}-header"
            nursery.cancel_scope.cancel()
    return outputs


@pytest.mark.loopback
def test_no_secret_in_anything_shown() -> None:
    shown, recorded, paths = trio.run(
        _memory_scenario, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    kinds = {type(event) for event in recorded}
    assert kinds == {
        events.Connecting,
        events.Connected,
        events.ConnectionLost,
        events.BackingOff,
        events.GaveUp,
        events.Closed,
        events.MessagesDropped,
    }
    leaks = [text for text in shown if SECRET in text]
    assert leaks == []
    # Not vacuous: the URL is shown, redacted, where it is shown ...
    connecting = [e for e in recorded if isinstance(e, (events.Connecting, events.Connected))]
    assert {e.url for e in connecting} == {SHOWN}
    assert any(f"timed out after 5 s ({SHOWN})" in text for text in shown)
    assert any("HTTP 503" in text for text in shown)
    assert SHOWN in shown  # Connection.url
    assert any("'ws://***@host:x/?token=***'" in text for text in shown)
    # ... and requested as given.
    assert paths[0] == f"/feed?token={SECRET}-token&room=1"

    outputs = trio.run(_cli_scenario)
    assert [output for output in outputs if SECRET in output] == []
    echo, gave_up, quiet, bad = outputs
    assert "hello" in echo
    assert "connected to ws://***@127.0.0.1:" in echo
    assert "/feed?token=*** (generation 1)" in echo
    assert "connecting to ws://***@127.0.0.1:1/feed?api_key=***" in gave_up
    assert "gave up" in gave_up and "gave up" in quiet
    assert "ConfigError: url: 'ws://***@127.0.0.1:x/' is malformed" in bad


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://h/", "ws://h/"),
        ("ws://u:p@h:81/a", "ws://***@h:81/a"),
        ("ws://tok:@h/", "ws://***@h/"),  # a user name alone can be the credential
        ("wss://h/?room=1&token=abc", "wss://h/?room=1&token=***"),
        (
            "ws://h/?X-Api-Key=1&auth_token=2&idToken=3&SIG=4",
            "ws://h/?X-Api-Key=***&auth_token=***&idToken=***&SIG=***",
        ),
        ("ws://h/?%74oken=1&api%5Fkey=2", "ws://h/?%74oken=***&api%5Fkey=***"),
        (
            "ws://h/?password=1&passwd=2&jwt=3&secret=4&signature=5",
            "ws://h/?password=***&passwd=***&jwt=***&secret=***&signature=***",
        ),
        (
            "ws://h/?access_token=1&apikey=2&key=3&auth=4",
            "ws://h/?access_token=***&apikey=***&key=***&auth=***",
        ),
        ("ws://h/?room=1&tokens=2&design=3&flag", "ws://h/?room=1&tokens=2&design=3&flag"),
        # an @ in the path hides the host too: a password may hold a "/", so the safe side
        ("ws://h/a@b?x=1", "ws://***@b?x=1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert parse_url(url).redacted == shown


def test_the_url_requested_is_unchanged_and_the_repr_is_redacted() -> None:
    parsed = parse_url("ws://u:p@h/feed?token=abc&room=1")
    assert parsed.resource == "/feed?token=abc&room=1"
    assert parsed.url == "ws://u:p@h/feed?token=abc&room=1"
    assert "abc" not in repr(parsed) and ":p@" not in repr(parsed)
    assert "ws://***@h/feed?token=***&room=1" in repr(parsed)


def test_a_malformed_url_error_quotes_no_part_of_the_password() -> None:
    # urllib takes "hunter2" for the port and says so: neither may be quoted.
    with pytest.raises(tether.ConfigError) as raised:
        parse_url("ws://alice:hunter2/x@h/?token=zz")
    assert "hunter2" not in str(raised.value) and "zz" not in str(raised.value)
    assert "'ws://***@h/?token=***'" in str(raised.value)
