"""The installed version of trio-tether, ``tether.__version__`` (a value: it imports
nothing of tether), read once from the package metadata; ``"0.0.0"`` when running from
a source tree that was never installed."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    #: The installed version of trio-tether (``"0.1.0"``), from the package metadata;
    #: ``"0.0.0"`` in a source tree that was never installed. The default ``User-Agent``
    #: carries it (``tether.policy.DEFAULT_USER_AGENT``).
    __version__ = version("trio-tether")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
