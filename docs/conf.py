"""Sphinx configuration: the Markdown pages (MyST) plus the API reference (autodoc)."""

from __future__ import annotations

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
