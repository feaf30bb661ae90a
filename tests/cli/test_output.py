"""tether.cli.connect.output in this process, on a stream that says it is a terminal:
pretty JSON without rich (an optional dependency), and the status lines' notes. On a
real terminal (rich installed): tests/cli/test_connect_terminal.py."""

from __future__ import annotations

import io
import sys

import pytest

from tether.cli.connect.output import Output, Status


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import raises ImportError


@pytest.mark.usefixtures("without_rich")
def test_json_on_a_terminal_without_rich_is_indented_plain_text() -> None:
    stream = FakeTerminal()
    output = Output(json=True, stream=stream)
    output.write('{"op":"sub","n":[1,2]}')
    output.write(b"\x01\x02")  # binary, not JSON: shown as a JSON string of its hex
    assert stream.getvalue() == ('< {\n  "op": "sub",\n  "n": [\n    1,\n    2\n  ]\n}\n< "0102"\n')


@pytest.mark.usefixtures("without_rich")
def test_status_notes_unless_quiet() -> None:
    stream = FakeTerminal()
    Status(stream=stream).note("pong: round trip 1.00 ms")
    Status(stream=stream, quiet=True).note("not shown")
    Status(stream=stream, quiet=True).warn("shown even when quiet")
    assert stream.getvalue() == (
        "tether: pong: round trip 1.00 ms\ntether: shown even when quiet\n"
    )
