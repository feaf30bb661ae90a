"""The API reference (docs/api.rst, Sphinx autodoc) names every public name, and every
public name has a docstring for it to show.

*Public* means: every name in the ``__all__`` of the modules users are pointed at
(:data:`PUBLIC_MODULES`). A name counts as in the reference when an ``auto*`` directive
of docs/api.rst names it, or it names the object under another of its public paths
(``tether.Config`` is ``tether.config.Config``), or an ``automodule`` with
``:members:`` covers it (autodoc then documents the members of ``__all__`` that have a
docstring, so a public name without one would be left out silently: that is checked
too, for the public classes' own methods and properties as well). An attrs class lists
its fields in an ``Attributes:`` section or its text, which is checked by name.

``nox -s docs`` (Sphinx with ``-W``) proves the directives resolve; this test proves
none is missing, without building the docs.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path
from typing import Any

import attrs

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api.rst"

PUBLIC_MODULES = (
    "tether",
    "tether.events",
    "tether.exceptions",
    "tether.config",
    "tether.codec",
    "tether.state",
    "tether.statistics",
    "tether.policy",
    "tether.delivery",
    "tether.testing",
    "tether.testing.pytest_plugin",
)
DIRECTIVE = re.compile(
    r"^\.\. auto(?P<kind>\w+):: (?P<name>[\w.]+)\n(?P<options>(?:[ \t]+:.*\n)*)", re.M
)


def public_names() -> dict[str, Any]:
    """``{"tether.config.Config": Config, ...}`` for every name of :data:`PUBLIC_MODULES`."""
    names: dict[str, Any] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            names[f"{module_name}.{name}"] = getattr(module, name)
    return names


def documented() -> set[str]:
    """The dotted names docs/api.rst documents, as autodoc will."""
    names: set[str] = set()
    for directive in DIRECTIVE.finditer(API.read_text(encoding="utf-8")):
        name = directive["name"]
        names.add(name)
        if directive["kind"] == "module" and ":members:" in directive["options"]:
            module = importlib.import_module(name)
            names.update(
                f"{name}.{member}"
                for member in module.__all__
                if has_own_doc(getattr(module, member))
            )
    return names


def has_own_doc(obj: Any) -> bool:
    """Whether autodoc's ``:members:`` would show ``obj`` (a docstring, not inherited
    from a builtin type's, nor that of ``typing``'s alias types)."""
    if isinstance(obj, (str, int, float, frozenset, tuple, dict)) or not callable(obj):
        return False  # data: documented by an explicit autodata directive
    doc = obj.__doc__
    return bool(doc and doc.strip())


def test_every_public_name_is_in_the_reference() -> None:
    names = public_names()
    shown = documented()
    paths: dict[int, set[str]] = {}
    for path, obj in names.items():
        paths.setdefault(id(obj), set()).add(path)
    missing = sorted(path for path, obj in names.items() if not paths[id(obj)] & shown)
    assert missing == [], f"add to docs/api.rst: {missing}"


def test_every_reference_directive_names_something_public() -> None:
    """No directive points at a name that is gone or private (Sphinx would warn for a
    gone one too; a private one would quietly document internals)."""
    names = public_names()
    for directive in DIRECTIVE.finditer(API.read_text(encoding="utf-8")):
        name = directive["name"]
        assert not any(part.startswith("_") for part in name.split(".")[1:-1]), name
        owner = name if name in names or name in PUBLIC_MODULES else name.rpartition(".")[0]
        assert owner in names or owner in PUBLIC_MODULES, f"{name} is not public"


def _ours(obj: Any) -> bool:
    """Defined by tether (not an alias of another library's type: ``MessageId`` is
    ``collections.abc.Hashable``, documented by its ``#:`` comment)."""
    return str(getattr(obj, "__module__", "")).split(".")[0] == "tether"


def _public_classes() -> list[type]:
    seen: dict[int, type] = {}
    for obj in public_names().values():
        if isinstance(obj, type) and _ours(obj):
            seen.setdefault(id(obj), obj)
    return list(seen.values())


def test_every_public_class_function_and_member_has_a_docstring() -> None:
    undocumented: list[str] = []
    for path, obj in public_names().items():
        if not _ours(obj) or not isinstance(obj, (types.FunctionType, type)):
            continue
        if not (obj.__doc__ or "").strip():
            undocumented.append(path)
    for cls in _public_classes():
        for name, member in vars(cls).items():
            if name.startswith("_") or isinstance(member, (str, int, float, tuple)):
                continue
            function = member.fget if isinstance(member, property) else member
            if isinstance(function, (classmethod, staticmethod)):
                function = function.__func__
            if not callable(function) or (attrs.has(cls) and name in attrs.fields_dict(cls)):
                continue
            if not (inspect.getdoc(function) or "").strip():
                undocumented.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert sorted(set(undocumented)) == []


def test_every_field_of_a_public_attrs_class_is_described() -> None:
    """An attrs class's fields are its API: each is named in the class docstring (the
    ``Attributes:`` section Sphinx renders, or the text), so none is left to guess."""
    missing: list[str] = []
    for cls in _public_classes():
        if not attrs.has(cls):
            continue
        doc = inspect.getdoc(cls) or ""
        for field in attrs.fields(cls):
            if field.inherited:
                continue  # described where it is defined (Event: generation, at)
            if not re.search(rf"\b{re.escape(field.name)}\b", doc):
                missing.append(f"{cls.__qualname__}.{field.name}")
    assert missing == [], missing


TOCTREE = re.compile(r"```\{toctree\}\n(?P<body>.*?)```", re.S)


def test_the_index_toctree_has_every_page() -> None:
    """Each page of docs/ is in the toctree of docs/index.md (Sphinx warns about a page
    in no toctree; this names it)."""
    (toctree,) = TOCTREE.findall((DOCS / "index.md").read_text(encoding="utf-8"))
    listed = {line.strip() for line in toctree.splitlines() if line and not line.startswith(":")}
    pages = {p.stem for p in DOCS.glob("*.md")} | {p.stem for p in DOCS.glob("*.rst")}
    assert listed == pages - {"index"}
