"""The close codes an endpoint may send (RFC 6455 section 7.4): one table for ``Config``
(``supersede_close_code``) and :mod:`tether.policy` (``aclose``/``reconnect`` codes).
The protocol layer keeps its own copy for what it accepts from a server (it imports
nothing of tether)."""

from __future__ import annotations

from typing import Final

__all__ = ["SENDABLE_CLOSE_CODES", "SENDABLE_CODES_TEXT", "sendable_close_code"]

#: Close codes below 3000 that an endpoint may send (RFC 6455 section 7.4.1 and the
#: IANA registry: 1012 Service Restart, 1013 Try Again Later, 1014 Bad Gateway);
#: 3000-4999 are for libraries and applications. 1004-1006 and 1015 are never sent.
SENDABLE_CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
#: The same, in words, for error messages.
SENDABLE_CODES_TEXT: Final = "1000, 1001, 1002, 1003, 1007-1014 or 3000-4999"


def sendable_close_code(code: int) -> bool:
    """Whether an endpoint may send ``code`` in a Close frame (RFC 6455 section 7.4)."""
    return code in SENDABLE_CLOSE_CODES or 3000 <= code <= 4999
