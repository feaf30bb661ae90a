"""The examples of ``docs/howto-testing.md`` run, as written, so they cannot rot.

Each fenced block is written as ```` ```python title="file.py" ````; the blocks are
saved under their titles in a fresh directory and run by a separate pytest
(``pytester``), the way a user would run them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HOWTO = Path(__file__).resolve().parent.parent / "docs" / "howto-testing.md"
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
