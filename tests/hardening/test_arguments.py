"""Issue 10, items 5 and 4 (headers): a wrong argument fails at ``connect()`` (or
``aclose()``) with a ``ConfigError`` naming it, before any I/O; an invalid header made
per attempt ends the session unretried; no error ever echoes a header's value; URL
userinfo is sent as ``Authorization: Basic``."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import tether
from tether import Backoff, Config, events
from tether.testing import memory_server

from ..helpers import EventLog

URL = "ws://tether.test/"
QUIET = Config(ping_interval=None, backoff=Backoff(initial=1, maximum=8, jitter=False))
#: A secret-looking header value; it must never appear in an error.
SECRET = "s3cr3t-t0ken-4f9a"


class CountingOpener:
    """An opener that must not be called: ``calls`` proves no I/O happened."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        self.calls += 1
        raise AssertionError("must not be called")


async def refused_before_io(**arguments: Any) -> tether.ConfigError:
    """Enter ``connect()`` with ``arguments``; assert it raised ``ConfigError`` before
    any I/O (no opener call, no event at all) and return the error."""
    opener = CountingOpener()
    log = EventLog()
    arguments.setdefault("url", URL)
    with trio.fail_after(1), pytest.raises(tether.ConfigError) as raised:
        async with tether.connect(
            config=QUIET, opener=opener, on_event=arguments.pop("on_event", log), **arguments
        ):
            pytest.fail("must not enter")  # pragma: no cover
    assert opener.calls == 0
    assert log.items == []
    return raised.value


def messages_of(error: BaseException) -> Iterator[str]:
    """str() and repr() of ``error`` and of every exception chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        pending += [current.__cause__, current.__context__]
        pending += getattr(current, "exceptions", ())
        pending.append(getattr(current, "last_error", None))


# ------------------------------------------------------------------------- headers


@pytest.mark.parametrize("headers", [[("X-A", "1")], "X-A: 1", 5, b"X-A: 1"])
async def test_headers_neither_mapping_nor_callable_fail_before_io(
    autojump_clock: trio.abc.Clock, headers: object
) -> None:
    error = await refused_before_io(headers=headers)
    assert str(error).startswith("headers: must be a mapping")


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("X Token", "v", "not an HTTP token"),
        ("X-Token:", "v", "not an HTTP token"),
        ("", "v", "empty"),
        ("X-Tök", "v", "not an HTTP token"),
        (b"X-Token", "v", "name must be a str"),
        ("X-Token", "v\r\nX-Evil: 1", "line break"),
        ("X-Token", "v\n", "line break"),  # read from a file with its newline
        ("X-Token", "v\x00", "NUL"),
        ("X-Token", "v\x07", "control character"),
        ("X-Token", "v\x7f", "control character"),
        ("X-Token", "caf\u20ac", "Latin-1"),
        ("X-Token", " v", "whitespace"),
        ("X-Token", 5, "must be a str"),
    ],
)
async def test_invalid_header_names_and_values_fail_before_io(
    autojump_clock: trio.abc.Clock, name: Any, value: Any, problem: str
) -> None:
    error = await refused_before_io(headers={name: value})
    message = str(error)
    assert message.startswith("headers: ")
    assert problem in message
    if isinstance(name, str) and name.startswith("X-Token") and not problem.startswith("not"):
        assert "'X-Token'" in message  # names the header


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "host",
        "UPGRADE",
        "Connection",
        "Sec-WebSocket-Key",
        "sec-websocket-version",
        "Sec-WebSocket-Protocol",
        "SEC-WEBSOCKET-EXTENSIONS",
    ],
)
async def test_headers_tether_owns_are_refused_before_io(
    autojump_clock: trio.abc.Clock, name: str
) -> None:
    error = await refused_before_io(headers={name: "x"})
    assert str(error).startswith(f"headers: {name!r} is set by tether")


async def test_valid_headers_are_sent_as_given(autojump_clock: trio.abc.Clock) -> None:
    headers = {"X-Token": "a\tb c", "X-Latin": "caf\u00e9", "X-Empty": "", "!#$%&'*+-.^_`|~9": "t"}
    async with memory_server() as server:
        with trio.fail_after(5):
            async with tether.connect(URL, config=QUIET, opener=server.opener, headers=headers):
                pass
        [record] = server.connections
    assert record.headers["x-token"] == "a\tb c"
    assert record.headers["x-latin"] == "caf\u00e9"
    assert record.headers["x-empty"] == ""
    assert record.headers["!#$%&'*+-.^_`|~9"] == "t"


# ------------------------------------------------------------- the other arguments


@pytest.mark.parametrize(
    ("arguments", "prefix"),
    [
        ({"on_connect": "subscribe"}, "on_connect: must be callable"),
        ({"on_connect": 42}, "on_connect: must be callable"),
        ({"on_event": print.__name__}, "on_event: must be callable"),
        ({"on_event": [print]}, "on_event: must be callable"),
        ({"ssl_context": "/etc/ssl/ca.pem"}, "ssl_context: must be an ssl.SSLContext"),
        ({"ssl_context": True}, "ssl_context: must be an ssl.SSLContext"),
        ({"codec": object()}, "codec: must have callable encode() and decode()"),
        ({"codec": ssl}, "codec: must have callable encode() and decode()"),
    ],
)
async def test_wrong_callbacks_ssl_context_and_codec_fail_before_io(
    autojump_clock: trio.abc.Clock, arguments: dict[str, Any], prefix: str
) -> None:
    error = await refused_before_io(**arguments)
    assert str(error).startswith(prefix)


#: What connect() says of a url of the wrong type (then the type's name).
_URL_KINDS = "url: must be a str, a sequence of str or an async callable returning a str, got "


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        (
            None,
            _URL_KINDS + "NoneType",
        ),
        (
            123,
            _URL_KINDS + "int",
        ),
        (
            b"ws://tether.test/",
            _URL_KINDS + "bytes",
        ),
        (
            bytearray(b"ws://x/"),
            _URL_KINDS + "bytearray",
        ),
        (["ws://tether.test/", None], "url: must be a str, got NoneType"),
        ("ws://tether.test:0/", "url: port 0"),
        (["ws://tether.test/", "wss://tether.test:0/"], "url: port 0"),
    ],
)
async def test_wrong_urls_fail_before_io(
    autojump_clock: trio.abc.Clock, url: object, prefix: str
) -> None:
    error = await refused_before_io(url=url)
    assert str(error).startswith(prefix)


async def test_valid_arguments_still_open(autojump_clock: trio.abc.Clock) -> None:
    async def on_connect(conn: tether.Connection) -> None:
        pass

    async with memory_server() as server:
        with trio.fail_after(5):
            async with tether.connect(
                (URL,),
                config=QUIET,
                opener=server.opener,
                on_connect=on_connect,
                on_event=EventLog(),
                ssl_context=ssl.create_default_context(),
                codec=tether.JsonCodec(),
            ) as session:
                await session.send({"a": 1})
        assert server.connections[0].messages == ['{"a":1}']


# ------------------------------------------------------------------------ aclose()


@pytest.mark.parametrize(
    ("arguments", "prefix"),
    [
        ({"code": 999}, "code: 999 cannot be sent"),
        ({"code": 1004}, "code: 1004 cannot be sent"),
        ({"code": 1005}, "code: 1005 cannot be sent"),
        ({"code": 1006}, "code: 1006 cannot be sent"),
        ({"code": 1015}, "code: 1015 cannot be sent"),
        ({"code": 1016}, "code: 1016 cannot be sent"),
        ({"code": 2999}, "code: 2999 cannot be sent"),
        ({"code": 5000}, "code: 5000 cannot be sent"),
        ({"code": True}, "code: must be an int, got bool"),
        ({"code": 1000.0}, "code: must be an int, got float"),
        ({"code": "1000"}, "code: must be an int, got str"),
        ({"reason": b"bye"}, "reason: must be a str, got bytes"),
        ({"reason": None}, "reason: must be a str, got NoneType"),
        ({"reason": "\u00e9" * 62}, "reason: must be at most 123 bytes in UTF-8, got 124"),
        ({"reason": "x" * 124}, "reason: must be at most 123 bytes in UTF-8, got 124"),
        ({"reason": "bye \ud83d"}, "reason: UTF-8 cannot encode it"),
    ],
)
async def test_wrong_aclose_arguments_raise_and_change_nothing(
    autojump_clock: trio.abc.Clock, arguments: dict[str, Any], prefix: str
) -> None:
    async with memory_server() as server:
        with trio.fail_after(10):
            async with tether.connect(URL, config=QUIET, opener=server.opener) as session:
                with pytest.raises(tether.ConfigError) as raised:
                    await session.aclose(**arguments)
                assert str(raised.value).startswith(prefix)
                # Nothing was asked of the session: it is open and usable.
                assert session.state is tether.State.OPEN
                await session.send("still here")
                await session.aclose(4000, "\u00e9" * 61 + "x")  # 123 bytes: the limit
        [record] = server.connections
    assert record.messages == ["still here"]
    assert record.close_code == 4000


# ------------------------------------------------------- headers made per attempt


async def _token_with_newline() -> dict[str, str]:
    return {"X-Client": "tether", "Authorization": f"Bearer {SECRET}\n"}


async def _not_a_mapping() -> object:
    return [("Authorization", f"Bearer {SECRET}")]


def _sync_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRET}"}


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (_token_with_newline, "'Authorization': value has a line break"),
        (_not_a_mapping, "headers: the callable must return a mapping"),
        (_sync_headers, "headers: the callable must be async"),
    ],
)
async def test_invalid_per_attempt_headers_end_the_session_unretried(
    autojump_clock: trio.abc.Clock, headers: Any, problem: str
) -> None:
    log = EventLog()
    config = Config(ping_interval=None, retry_if=lambda error: True, max_attempts=5)
    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=config, opener=server.opener, headers=headers, on_event=log
            ):
                pytest.fail("must not enter")  # pragma: no cover
        assert server.connections == []  # checked before the stream was opened
    error = raised.value.last_error
    assert isinstance(error, tether.ConfigError)
    assert problem in str(error)
    assert raised.value.__cause__ is error
    assert len(log.of(events.Connecting)) == 1  # not retried, whatever retry_if says
    [gave_up] = log.of(events.GaveUp)
    assert gave_up.error is error
    assert trio.current_time() == 0


async def test_invalid_headers_of_a_later_attempt_end_an_open_session(
    autojump_clock: trio.abc.Clock,
) -> None:
    calls = 0

    async def headers() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"X-Attempt": "1" if calls == 1 else "2\r\n"}

    config = Config(ping_interval=None, retry_if=lambda error: True)
    async with memory_server() as server:
        with trio.fail_after(60):
            async with tether.connect(
                URL, config=config, opener=server.opener, headers=headers
            ) as session:
                session.reconnect()
                with pytest.raises(tether.ReconnectFailed) as raised:
                    await session.receive()
        assert len(server.connections) == 1
        assert session.state is tether.State.CLOSED
    assert isinstance(raised.value.last_error, tether.ConfigError)
    assert "'X-Attempt': value has a line break" in str(raised.value.last_error)
    assert calls == 2


# ----------------------------------------------------- no error echoes a header value


@pytest.mark.parametrize(
    "value",
    [
        f"Bearer {SECRET}\n",  # a token read from a file with its newline
        f"Bearer {SECRET}\u2028",  # a Unicode line separator: not Latin-1
        f"Bearer {SECRET}\u20ac",
        f"Bearer {SECRET}\x00",
        f"  Bearer {SECRET}",
    ],
)
async def test_no_error_echoes_a_header_value(autojump_clock: trio.abc.Clock, value: str) -> None:
    error = await refused_before_io(headers={"Authorization": value})
    assert "'Authorization'" in str(error)
    for text in messages_of(error):
        assert SECRET not in text

    async def per_attempt() -> dict[str, str]:
        return {"Authorization": value}

    log = EventLog()
    async with memory_server() as server:
        with trio.fail_after(60), pytest.raises(tether.ReconnectFailed) as raised:
            async with tether.connect(
                URL, config=QUIET, opener=server.opener, headers=per_attempt, on_event=log
            ):
                pytest.fail("must not enter")  # pragma: no cover
    for text in messages_of(raised.value):
        assert SECRET not in text
    for event in log.items:
        assert SECRET not in repr(event)


async def test_a_header_name_holding_a_secret_is_not_echoed(
    autojump_clock: trio.abc.Clock,
) -> None:
    # A mistyped entry: the whole line became the name.
    error = await refused_before_io(headers={f"Authorization: Bearer {SECRET}": ""})
    assert str(error).startswith("headers: name 'Authorization'")
    for text in messages_of(error):
        assert SECRET not in text


# ------------------------------------------------------------ URL userinfo -> Basic


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


@pytest.mark.parametrize(
    ("url", "credentials"),
    [
        ("ws://alice:wonderland@tether.test/", "alice:wonderland"),
        # Percent-decoded, then UTF-8 (as the websockets client does).
        ("ws://al%69ce:p%40ss%3Aw%C3%B6rd@tether.test:8080/x", "alice:p@ss:w\u00f6rd"),
        ("ws://bob:@tether.test/", "bob:"),
    ],
)
async def test_url_userinfo_is_sent_as_basic_authorization(
    autojump_clock: trio.abc.Clock, url: str, credentials: str
) -> None:
    async with memory_server() as server:
        with trio.fail_after(5):
            async with tether.connect(url, config=QUIET, opener=server.opener) as session:
                session.reconnect()  # every attempt sends it
                await session.wait_connected()
        records = server.connections
    assert [record.headers["authorization"] for record in records] == [basic(credentials)] * 2
    assert records[0].host == "tether.test"  # what the opener was asked for


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
async def test_an_authorization_header_given_wins_over_url_userinfo(
    autojump_clock: trio.abc.Clock, name: str
) -> None:
    async def per_attempt() -> dict[str, str]:
        return {name: "Bearer per-attempt"}

    async with memory_server() as server:
        with trio.fail_after(5):
            async with tether.connect(
                "ws://alice:wonderland@tether.test/",
                config=QUIET,
                opener=server.opener,
                headers={name: "Bearer given"},
            ):
                pass
            async with tether.connect(
                "ws://alice:wonderland@tether.test/",
                config=QUIET,
                opener=server.opener,
                headers=per_attempt,
            ):
                pass
        first, second = server.connections
    assert first.headers["authorization"] == "Bearer given"
    assert second.headers["authorization"] == "Bearer per-attempt"


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("ws://alice@tether.test/", "url: a user name without a password"),
        ("ws://al%3Aice:pw@tether.test/", "url: the user name must not contain ':'"),
    ],
)
async def test_unusable_userinfo_fails_before_io(
    autojump_clock: trio.abc.Clock, url: str, prefix: str
) -> None:
    error = await refused_before_io(url=url)
    assert str(error).startswith(prefix)


# ------------------------------------------------------------ proxy and subprotocols


@pytest.mark.parametrize("proxy", [5, b"http://proxy:3128", True])
async def test_a_proxy_that_is_not_a_string_fails_before_io(
    autojump_clock: trio.abc.Clock, proxy: object
) -> None:
    error = await refused_before_io(proxy=proxy)
    assert str(error) == (f"proxy: must be a proxy URL str or None, got {type(proxy).__name__}")


async def test_a_unix_socket_takes_no_proxy(autojump_clock: trio.abc.Clock, tmp_path: Path) -> None:
    socket_path = tmp_path / "never-opened.sock"
    with pytest.raises(
        tether.ConfigError, match=r"^proxy: a Unix domain socket \(unix_socket=\) takes no proxy$"
    ):
        async with tether.connect(URL, unix_socket=str(socket_path), proxy="http://proxy:3128"):
            pytest.fail("must not enter")  # pragma: no cover
    assert not socket_path.exists()


async def test_one_subprotocol_may_be_given_as_a_string(autojump_clock: trio.abc.Clock) -> None:
    async with (
        memory_server() as server,
        tether.connect(URL, config=QUIET, opener=server.opener, subprotocols="chat.v2"),
    ):
        pass
    [record] = server.connections
    assert record.headers["sec-websocket-protocol"] == "chat.v2"  # not "c, h, a, ..."
