"""Sphinx configuration: the Markdown pages (MyST) plus the API reference (autodoc)."""

from __future__ import annotations

import inspect
import sys
from typing import Any

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer

project = "trio-tether"
author = "trio-tether developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
myst_heading_anchors = 3
nitpicky = False


def _comment_where_defined(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A constant or type alias re-exported by a package (``tether.Opener``,
    ``tether.policy.MAX_REDIRECTS``) has its ``#:`` comment in the private module that
    defines it, where autodoc does not look: take it from there."""
    own = "\n".join(lines).strip()
    if what != "data" or (own and own != (inspect.getdoc(type(obj)) or "").strip()):
        return  # not data, or a docstring of its own (not that of str, a union ...)
    attribute = name.rpartition(".")[2]
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("tether.") or getattr(module, attribute, lines) is not obj:
            continue
        analyzer = ModuleAnalyzer.for_module(module_name)
        analyzer.find_attr_docs()
        comment = analyzer.attr_docs.get(("", attribute))
        if comment:
            lines[:] = comment
            return


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _comment_where_defined)
