"""The ``tether`` command: ``tether demo``, ``tether connect`` and ``tether proxy``.

It uses the library only through its public API (``tether``, ``tether.events``,
``tether.testing``); nothing in the library imports it.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
