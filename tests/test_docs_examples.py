"""The code of the docs runs, as written, so it cannot rot, and does what the text around
it promises.

* ``docs/howto-testing.md``: each fenced block is written as ```` ```python
  title="file.py" ````; the blocks are saved under their titles in a fresh directory and
  run by a separate pytest (``pytester``), the way a user would run them.
* ``docs/howto-recipes.md`` and ``docs/tutorial.md``: every python block is a recipe
  under a ``##`` heading, run unchanged as the body of an ``async def`` (see
  :func:`recipe`) against the in-memory server on the virtual clock, with the names it
  leaves to the reader (``url``, ``TOKEN``, ``handle`` ...) supplied, and
  ``tether.connect`` routed to that server. A page's recipes are listed: a new one
  without a test fails :func:`test_every_recipe_block_is_run`.
* The tutorial's whole programs: ``echo_server.py`` and the first program each run as a
  process on 127.0.0.1; ``counter.py`` as a module (:func:`tests.docs_blocks.run_module`)
  against the in-memory server through a restart.

tests/test_docs_blocks.py checks that every block of every page is run by some test.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import random
import re
import socket
import sys
import textwrap
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import tether
from tether import events
from tether.testing import MemoryServer, ServerConnection, memory_server
from tether.testing.pytest_plugin import EventRecorder

from .docs_blocks import block as docs_block
from .docs_blocks import run_module

DOCS = Path(__file__).resolve().parent.parent / "docs"
HOWTO = DOCS / "howto-testing.md"
BLOCK = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
TITLE = re.compile(r'title="(?P<title>[^"]+)"')


def examples() -> dict[str, str]:
    """``{title: code}`` of every python block of the how-to, in order."""
    found: dict[str, str] = {}
    for block in BLOCK.finditer(HOWTO.read_text(encoding="utf-8")):
        title = TITLE.search(block["info"])
        assert title is not None, f"a python block without a title: {block['code'][:60]!r}"
        assert title["title"] not in found, f"two blocks titled {title['title']}"
        found[title["title"]] = block["code"]
    return found


def run(pytester: pytest.Pytester, files: dict[str, str]) -> pytest.RunResult:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    for name, code in files.items():
        pytester.path.joinpath(name).write_text(code, encoding="utf-8")
    # A separate process with a deadline: an example that waits for ever (under the
    # autojump clock, spinning through virtual time) must fail, not hang the suite.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)


def test_the_howto_has_the_examples_it_promises() -> None:
    found = examples()
    assert list(found) == ["conftest.py", "test_bot.py", "test_with_session.py"]
    assert found["conftest.py"] == 'pytest_plugins = ["tether.testing.pytest_plugin"]\n'
    assert len(found["test_bot.py"].splitlines()) <= 30  # "in 30 lines"


def test_the_howto_examples_pass(pytester: pytest.Pytester) -> None:
    found = examples()
    tests = sum(code.count("\nasync def test_") for code in found.values())
    result = run(pytester, found)
    result.assert_outcomes(passed=tests)
    assert tests == 2


def test_the_bot_example_catches_a_bot_that_subscribes_only_once(
    pytester: pytest.Pytester,
) -> None:
    """The bot test asserts behaviour: a bot that subscribes once, after connect(),
    instead of in on_connect, fails it."""
    found = examples()
    bot = found["test_bot.py"]
    broken = bot.replace("on_connect=subscribe, ", "").replace(
        " as session:\n", ' as session:\n        await session.send("subscribe ticker")\n', 1
    )
    assert broken.count("on_connect") == 0 and broken != bot
    result = run(pytester, {"conftest.py": found["conftest.py"], "test_bot.py": broken})
    result.assert_outcomes(failed=1)
    assert "assert [['subscribe ticker'], []] == " in result.stdout.str()


# ------------------------------------------------ recipes: howto-recipes.md, tutorial.md

HEADING = re.compile(r"^## (?P<heading>.+)$", re.M)
URL = "wss://feed.example/v1"
TOKEN = "t0ken"


def recipe_blocks(page: str) -> dict[str, list[str]]:
    """``{heading: [python block, ...]}`` for the ``##`` sections of ``page`` that have
    python code."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    headings = list(HEADING.finditer(text))
    for here, after in zip(headings, [*headings[1:], None], strict=True):
        section = text[here.end() : after.start() if after else len(text)]
        blocks = [block["code"] for block in BLOCK.finditer(section)]
        if blocks:
            found[here["heading"]] = blocks
    return found


def recipe(page: str, heading: str, **names: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The one block of ``heading`` as ``async def recipe()``: run unchanged, indented,
    with ``names`` as its globals, which its ``import`` statements get too (an ``import
    tether`` in the block is the routed one); it returns its locals (what it made)."""
    (code,) = recipe_blocks(page)[heading]
    source = f"async def recipe():\n{textwrap.indent(code, '    ')}    return locals()\n"

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return names[name] if name in names else builtins.__import__(name, *args, **kwargs)

    namespace: dict[str, Any] = {
        "__name__": "recipe",
        "__builtins__": {**vars(builtins), "__import__": import_},
        **names,
    }
    exec(compile(source, f"{page}: {heading}", "exec", dont_inherit=True), namespace)
    return namespace["recipe"]  # type: ignore[no-any-return]


def routed(server: MemoryServer, log: EventRecorder, opener: Any = None) -> Any:
    """``tether`` as the recipe sees it: ``connect`` goes to ``server`` (or
    ``opener``), records events in ``log`` and draws jitter from a seeded rng."""

    def connect(url: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("opener", opener or server.opener)
        kwargs.setdefault("on_event", log)
        kwargs.setdefault("rng", random.Random(7))
        return tether.connect(url, **kwargs)

    return types.SimpleNamespace(**{**vars(tether), "connect": connect})


RECIPES = "howto-recipes.md"
TUTORIAL = "tutorial.md"


def test_every_recipe_block_is_run() -> None:
    """The recipes the tests below run are all there are, one block each."""
    assert {h: len(b) for h, b in recipe_blocks(RECIPES).items()} == {
        "Authenticate (or re-subscribe) on every connection": 1,
        "Refresh a token on every reconnect": 1,
        "Fail over between URLs": 1,
        "Give up, then fall back": 1,
        "Decode JSON into classes": 1,
    }
    assert {h: len(b) for h, b in recipe_blocks(TUTORIAL).items()} == {
        "A server to talk to": 1,
        "Connect, send, receive": 1,
        "Watch what happens": 1,
        "Survive a restart": 1,
        "Tune it": 1,
    }


AUTH = "Authenticate (or re-subscribe) on every connection"


def auth_server(ok: bool, *, drop_first: bool = False) -> Callable[..., Awaitable[None]]:
    """Answers ``{"op": "auth", "token": TOKEN}`` with ``{"ok": ok}``; with ``drop_first``
    the first connection is dropped instead of answered."""
    server: list[MemoryServer] = []

    async def handler(conn: ServerConnection) -> None:
        request = json.loads(await conn.get_message())
        if drop_first and conn.record.id == 1:
            server[0].drop()
            await trio.sleep_forever()
        await conn.send_message(json.dumps({"ok": ok and request["token"] == TOKEN}))
        await trio.sleep_forever()

    handler.server = server  # type: ignore[attr-defined]
    return handler


async def test_recipe_authenticate_logs_in_on_the_connection(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventRecorder()
    async with memory_server(auth_server(ok=True)) as server:
        await recipe(RECIPES, AUTH, tether=routed(server, log), json=json, url=URL, TOKEN=TOKEN)()
        assert [r.messages for r in server.connections] == [
            [json.dumps({"op": "auth", "token": TOKEN})]
        ]
    assert log.kinds()[-1] == "Closed" and len(log.of(events.Connected)) == 1


async def test_recipe_authenticate_refused_is_not_retried_the_session_ends(
    autojump_clock: trio.abc.Clock,
) -> None:
    """ "raise PermissionError(reply)   # not retried by default: the session ends":
    one attempt, at t=0, and connect() raises ReconnectFailed naming it."""
    log = EventRecorder()
    async with memory_server(auth_server(ok=False)) as server:
        run = recipe(RECIPES, AUTH, tether=routed(server, log), json=json, url=URL, TOKEN=TOKEN)
        with pytest.raises(tether.ReconnectFailed) as raised:
            await run()
        assert len(server.connections) == 1
    assert trio.current_time() == 0
    assert [e.attempt for e in log.of(events.Connecting)] == [1]
    cause = raised.value.__cause__
    assert isinstance(cause, tether.ApplicationError)
    assert isinstance(cause.__cause__, PermissionError)
    assert cause.__cause__.args == ({"ok": False},)
    assert "on_connect raised PermissionError({'ok': False})" in str(raised.value)


async def test_recipe_authenticate_retries_a_connection_dropped_inside_on_connect(
    autojump_clock: trio.abc.Clock,
) -> None:
    """ "A dropped connection inside it (tether.ConnectionLostError) is retried like
    any loss"."""
    log = EventRecorder()
    handler = auth_server(ok=True, drop_first=True)
    async with memory_server(handler) as server:
        handler.server.append(server)  # type: ignore[attr-defined]
        await recipe(RECIPES, AUTH, tether=routed(server, log), json=json, url=URL, TOKEN=TOKEN)()
        assert len(server.connections) == 2
        assert all(len(r.messages) == 1 for r in server.connections)  # logged in twice
    (backing_off,) = log.of(events.BackingOff)
    assert isinstance(backing_off.error, tether.ConnectionLostError)
    assert [e.generation for e in log.of(events.Connected)] == [1]


class TokenSource:
    """``token_source`` of the recipe: hands out ``tokens`` in order."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    async def get(self) -> str:
        self.calls += 1
        await trio.lowlevel.checkpoint()
        return self.tokens.pop(0)


REFRESH = "Refresh a token on every reconnect"


async def test_recipe_refresh_calls_the_headers_callable_before_every_attempt(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventRecorder()
    source = TokenSource("first", "second")
    async with memory_server() as server:
        server.refuse(1)  # attempt 1 used "first"; attempt 2 connects with "second"
        await recipe(RECIPES, REFRESH, tether=routed(server, log), url=URL, token_source=source)()
        assert [r.headers["authorization"] for r in server.connections] == ["Bearer second"]
    assert source.calls == 2
    assert [e.attempt for e in log.of(events.Connecting)] == [1, 2]


async def test_recipe_refresh_a_token_with_a_newline_ends_the_session_unretried(
    autojump_clock: trio.abc.Clock,
) -> None:
    log = EventRecorder()
    source = TokenSource("read-from-a-file\n")
    async with memory_server() as server:
        run = recipe(RECIPES, REFRESH, tether=routed(server, log), url=URL, token_source=source)
        with pytest.raises(tether.ReconnectFailed) as raised:
            await run()
        assert server.connections == []
    assert source.calls == 1
    error = raised.value.last_error
    assert isinstance(error, tether.ConfigError)
    assert "'Authorization': value has a line break" in str(error)
    assert "read-from-a-file" not in str(raised.value)


async def test_recipe_fail_over_tries_the_urls_in_order(autojump_clock: trio.abc.Clock) -> None:
    log = EventRecorder()
    async with memory_server() as server:

        async def a_is_down(host: str, port: int, tls: bool) -> trio.abc.Stream:
            if host == "a.example":
                raise ConnectionRefusedError("a is down")
            return await server.opener(host, port, tls)

        await recipe(RECIPES, "Fail over between URLs", tether=routed(server, log, a_is_down))()
        assert [(r.host, r.port) for r in server.connections] == [("b.example", 443)]
    assert [e.url for e in log.of(events.Connecting)] == [
        "wss://a.example/ws",
        "wss://b.example/ws",
    ]
    assert [e.url for e in log.of(events.Connected)] == ["wss://b.example/ws"]


async def test_recipe_give_up_falls_back_after_give_up_after(
    autojump_clock: trio.abc.Clock,
) -> None:
    """give_up_after=120: at exactly t=120 s the recipe logs the last error and polls."""
    warnings: list[tuple[Any, ...]] = []
    polled: list[float] = []

    async def poll_forever() -> None:
        polled.append(trio.current_time())

    recorder = EventRecorder()
    async with memory_server() as server:
        server.go_down()
        await recipe(
            RECIPES,
            "Give up, then fall back",
            tether=routed(server, recorder),
            url=URL,
            handle=lambda message: pytest.fail("no message while the server is down"),
            log=types.SimpleNamespace(warning=lambda *args: warnings.append(args)),
            poll_forever=poll_forever,
        )()
    assert polled == [120]
    ((text, cause),) = warnings
    assert text == "realtime feed gone (%r); polling instead"
    assert isinstance(cause, ConnectionRefusedError)
    (gave_up,) = recorder.of(events.GaveUp)
    assert gave_up.at == 120 and gave_up.error is cause


DECODE = "Decode JSON into classes"


async def test_recipe_decode_json_into_classes(autojump_clock: trio.abc.Clock) -> None:
    async def trade(conn: ServerConnection) -> None:
        await conn.send_message('{"symbol": "ACME", "price": 12.5}')
        await trio.sleep_forever()

    async with memory_server(trade) as server:
        made = await recipe(
            RECIPES, DECODE, tether=routed(server, EventRecorder()), url=URL, attrs=attrs
        )()
    assert made["trade"] == made["Trade"](symbol="ACME", price=12.5)


async def test_recipe_decode_json_a_bad_message_is_a_decode_error_with_raw(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def garbage(conn: ServerConnection) -> None:
        await conn.send_message('{"symbol": "ACME"}')
        await trio.sleep_forever()

    async with memory_server(garbage) as server:
        run = recipe(RECIPES, DECODE, tether=routed(server, EventRecorder()), url=URL, attrs=attrs)
        with pytest.raises(tether.DecodeError) as raised:
            await run()
    assert raised.value.raw == '{"symbol": "ACME"}'


async def test_tutorial_connect_send_receive(autojump_clock: trio.abc.Clock) -> None:
    """The complete program: ``trio.run(main)`` hands ``main`` over; it runs here, in
    the test's own Trio run, against an echo server."""
    printed: list[str] = []
    mains: list[Callable[[], Awaitable[None]]] = []
    async with memory_server() as server:
        await recipe(
            TUTORIAL,
            "Connect, send, receive",
            tether=routed(server, EventRecorder()),
            trio=types.SimpleNamespace(run=mains.append),
            print=lambda *args: printed.append(" ".join(map(str, args))),
        )()
        (main,) = mains
        await main()
        assert [r.messages for r in server.connections] == [["hello"]]
    assert printed == ["hello"]


async def test_tutorial_watch_what_happens_ends_after_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    """narrate() prints every event and returns once the session closed, so the
    nursery around the session exits."""
    printed: list[str] = []
    async with memory_server() as server:
        await recipe(
            TUTORIAL,
            "Watch what happens",
            tether=routed(server, EventRecorder()),
            trio=trio,
            url=URL,
            print=lambda *args: printed.append(" ".join(map(str, args))),
        )()
    # events() subscribes once connect() has entered, after Connected: the body does
    # nothing, so the one event narrated is the close.
    assert len(printed) == 1 and printed[0].split(maxsplit=1)[1] == "closed (code 1000)"


SOURCE = str(Path(tether.__file__).resolve().parents[1])  # this tether, for subprocesses


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.loopback
async def test_tutorial_echo_server_answers_the_first_program(tmp_path: Path) -> None:
    """``python echo_server.py``, then the first program as a file of its own, each a
    process, as written but for the port: the program prints the echo."""
    port = free_port()
    server_code = docs_block("docs/tutorial.md", "echo_server.py")
    (hello_code,) = recipe_blocks(TUTORIAL)["Connect, send, receive"]
    assert docs_block("docs/tutorial.md", "A server to talk to") == "$ python echo_server.py\n"
    for name, code in [("echo_server.py", server_code), ("hello.py", hello_code)]:
        assert code.count("8765") == 1
        tmp_path.joinpath(name).write_text(code.replace("8765", str(port)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    trio.run_process,
                    [sys.executable, "echo_server.py"],
                    cwd=tmp_path,
                    env=env,
                    check=False,
                )
            )
            while True:
                try:
                    await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await trio.sleep(0.05)
            hello = await trio.run_process(
                [sys.executable, "hello.py"],
                cwd=tmp_path,
                env=env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            server.terminate()
    assert (hello.returncode, hello.stdout) == (0, b"hello\n"), hello.stderr


async def test_tutorial_counter_survives_a_restart(autojump_clock: trio.abc.Clock) -> None:
    """counter.py against the in-memory server, which restarts (5 s down) at 3.5 s: the
    events are narrated and the echoes go on, none skipped."""
    printed: list[str] = []
    mains: list[Callable[[], Awaitable[None]]] = []
    async with memory_server() as server:
        run_module(
            docs_block("docs/tutorial.md", "counter.py"),
            "docs/tutorial.md: counter.py",
            {
                "tether": routed(server, EventRecorder()),
                "trio": types.SimpleNamespace(**{**vars(trio), "run": mains.append}),
                "print": lambda *args: printed.append(" ".join(map(str, args))),
            },
        )
        (main,) = mains
        async with trio.open_nursery() as nursery:
            nursery.start_soon(main)
            await trio.sleep(3.5)
            await server.restart(5)
            await trio.sleep(10)
            nursery.cancel_scope.cancel()
    echoes = [int(line.split()[-1]) for line in printed if line.startswith("echo: ")]
    assert echoes == list(range(1, len(echoes) + 1))
    assert len(echoes) > 5  # 1 to 4 before the restart, more after
    narrated = [line for line in printed if not line.startswith("echo: ")]
    assert narrated[:2] == [
        "connecting to ws://127.0.0.1:8765/ (generation 1, attempt 1)",
        "connected to ws://127.0.0.1:8765/ (generation 1)",
    ]
    assert narrated[2].startswith("connection lost (generation 1): transport_error")
    assert any(line.startswith("backing off ") for line in narrated)
    assert narrated[-2:] == [
        "connected to ws://127.0.0.1:8765/ (generation 2)",
        "closed (code 1001)",  # cancelled: the session's block sent Close 1001
    ]


async def test_tutorial_tune_it() -> None:
    made = await recipe(TUTORIAL, "Tune it", tether=tether)()
    config = made["config"]
    assert (config.ping_interval, config.ping_timeout, config.idle_timeout) == (10, 10, 60)
    assert (config.give_up_after, config.send_buffer) == (600, 10_000)
    assert config.overflow is tether.Overflow.DROP_OLDEST


def _tests_named_in(section: str) -> set[str]:
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|"):
            names.update(re.findall(r"`(test_\w+)`", line))
    return names


def test_every_test_the_guarantee_index_names_exists() -> None:
    design = (DOCS / "design.md").read_text()
    start = design.index("## Failure catalogue")
    end = design.index("## Performance")
    named = _tests_named_in(design[start:end])
    assert len(named) > 60  # the catalogue and the index, not an empty match
    defined: set[str] = set()
    for path in DOCS.parent.joinpath("tests").rglob("test_*.py"):
        defined.update(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(), re.M))
    assert sorted(named - defined) == []
