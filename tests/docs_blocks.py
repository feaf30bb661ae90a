"""The fenced code blocks of README.md and docs/*.md, found the way a Markdown reader
finds them, each with a key the tests can name it by.

A block's *key* is its ``title="..."`` (```` ```python title="market_bot.py" ````),
else the heading it sits under (``## Fail over between URLs``), with `` (2)``,
`` (3)`` ... for the second and later untitled blocks under one heading.
"""

from __future__ import annotations

import builtins
import re
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
HEADING = re.compile(r"^#{1,6} +(?P<text>.+?) *#*$")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@attrs.frozen
class Block:
    page: str  # relative to the repository: "README.md", "docs/cookbook.md"
    key: str
    language: str  # the info string's first word: "python", "console", "" ...
    code: str
    line: int  # of the opening fence, 1-based


def pages() -> list[str]:
    """README.md and every page of docs/, as repository paths."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page``, in order (indented fences too, as in a list)."""
    found: list[Block] = []
    heading = ""
    per_heading: dict[str, int] = {}
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    n = 0
    while n < len(lines):
        opening = FENCE.match(lines[n])
        if opening is None:
            title = HEADING.match(lines[n])
            if title is not None:
                heading = title["text"]
            n += 1
            continue
        fence, indent, start = opening["fence"], len(opening["indent"]), n
        body: list[str] = []
        n += 1
        while n < len(lines):
            closing = FENCE.match(lines[n])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[n][indent:] if lines[n][:indent].isspace() else lines[n])
            n += 1
        n += 1
        info = opening["info"].strip()
        title = TITLE.search(info)
        if title is not None:
            key = title["title"]
        else:
            per_heading[heading] = per_heading.get(heading, 0) + 1
            count = per_heading[heading]
            key = heading if count == 1 else f"{heading} ({count})"
        language = info.split()[0] if info else ""
        code = "\n".join(body) + "\n" if body else ""
        found.append(Block(page, key, language, code, start + 1))
    return found


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def block(page: str, key: str) -> str:
    """The code of the block of ``page`` keyed ``key``."""
    matches = [b.code for b in blocks(page) if b.key == key]
    assert len(matches) == 1, f"{page}: {len(matches)} blocks keyed {key!r}"
    return matches[0]


def as_function(
    code: str, filename: str, names: dict[str, Any]
) -> Callable[[], Coroutine[Any, Any, dict[str, Any]]]:
    """``code`` (a block written as the body of an ``async def``, as the short snippets
    of the docs are) as ``async def block()``, unchanged but indented. ``names`` are its
    globals, and what its ``import`` statements get for those names (so ``import tether``
    can be given a routed ``tether``); it returns its locals, what it made."""
    source = f"async def block():\n{textwrap.indent(code, '    ')}    return locals()\n"

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return names[name] if name in names else builtins.__import__(name, *args, **kwargs)

    namespace: dict[str, Any] = {
        "__name__": "docs_block",
        "__builtins__": {**vars(builtins), "__import__": import_},
        **names,
    }
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    return namespace["block"]  # type: ignore[no-any-return]


def run_module(code: str, filename: str, names: dict[str, Any]) -> dict[str, Any]:
    """Execute ``code`` (a whole program) as a module; its ``import`` statements of the
    modules named in ``names`` get those instead (a routed ``tether``, a ``trio`` whose
    ``run`` hands the main function over). Returns the module's namespace."""

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return names[name] if name in names else builtins.__import__(name, *args, **kwargs)

    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": {**vars(builtins), "__import__": import_},
        **{key: value for key, value in names.items() if not isinstance(value, type(builtins))},
    }
    exec(compile(code, filename, "exec", dont_inherit=True), namespace)
    return namespace
