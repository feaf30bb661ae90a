"""Pure decisions, apart from the Trio shell: the retry-or-fail table, backoff with full
jitter, ``Retry-After``, and URL parsing. Nothing here does I/O, reads a clock or
imports trio; the session layer asks these functions and acts on the answers.
"""

from ._retry import (
    COME_BACK_LATER_CLOSE_CODES,
    FATAL_CLOSE_CODES,
    RETRYABLE_HANDSHAKE_STATUSES,
    backoff_delay,
    backoff_step,
    default_retry_if,
    must_wait_before_retry,
    next_delay,
    retry_after,
)
from ._url import WebSocketURL, parse_url

__all__ = [
    "COME_BACK_LATER_CLOSE_CODES",
    "FATAL_CLOSE_CODES",
    "RETRYABLE_HANDSHAKE_STATUSES",
    "WebSocketURL",
    "backoff_delay",
    "backoff_step",
    "default_retry_if",
    "must_wait_before_retry",
    "next_delay",
    "parse_url",
    "retry_after",
]
