"""``tether connect -v`` / ``-vv``: the library's own loggers on stderr.

``-v`` shows the ``tether`` logger at INFO (connected, lost, backing off, gave up,
closed: one line per session event, as the status lines say it); ``-vv`` adds DEBUG:
``Connecting`` and ``tether.protocol`` (the handshake and every frame: opcode, length,
FIN and RSV bits). Each line names the generation. Never a payload: the payload logger
(``tether.protocol.payloads``) needs its own level set, which ``-vv`` does not set.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

from .output import clock

__all__ = ["configure_logging"]


class _LineFormatter(logging.Formatter):
    """``tether: INFO gen 2 [tether] connected to ...``, with the time first if asked."""

    def __init__(self, timestamps: bool) -> None:
        super().__init__()
        self._timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        generation = getattr(record, "generation", None)
        where = f"gen {generation} " if generation is not None else ""
        line = f"tether: {record.levelname} {where}[{record.name}] {record.getMessage()}"
        return f"{clock()} {line}" if self._timestamps else line


def configure_logging(
    verbose: int, *, timestamps: bool = False, stream: IO[str] | None = None
) -> logging.Handler | None:
    """Attach a stderr handler to the ``tether`` logger for ``verbose`` (0: none, 1:
    INFO, 2 or more: DEBUG, ``tether.protocol`` included); returns it (``None`` for 0)
    so that a caller can remove it."""
    if verbose <= 0:
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_LineFormatter(timestamps))
    level = logging.INFO if verbose == 1 else logging.DEBUG
    handler.setLevel(level)
    logger = logging.getLogger("tether")
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.getEffectiveLevel()))
    if verbose >= 2:
        logging.getLogger("tether.protocol").setLevel(logging.DEBUG)
    return handler
