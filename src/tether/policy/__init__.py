"""Pure decisions, apart from the Trio shell: the retry-or-fail table, backoff with full
jitter, ``Retry-After``, URL parsing and redaction, the choice of proxy (``proxy=`` and
the environment), and the checks of ``connect()``'s and ``aclose()``'s arguments and of
handshake headers. Nothing here does I/O, reads a clock
or imports trio; the session layer asks these functions and acts on the answers.
"""

from ._arguments import (
    MAX_CLOSE_REASON,
    SENDABLE_CLOSE_CODES,
    check_callback,
    check_close,
    check_codec,
    check_ssl_context,
    sendable_close_code,
)
from ._headers import OWNED_HEADERS, check_headers_argument, handshake_headers, header_problem
from ._proxy import (
    ENVIRONMENT,
    PROXY_SCHEMES,
    ProxyURL,
    choose_proxy,
    environment_proxies,
    parse_proxy_url,
)
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
from ._url import CREDENTIAL_NAMES, WebSocketURL, parse_url, redact_url

__all__ = [
    "COME_BACK_LATER_CLOSE_CODES",
    "CREDENTIAL_NAMES",
    "ENVIRONMENT",
    "FATAL_CLOSE_CODES",
    "MAX_CLOSE_REASON",
    "OWNED_HEADERS",
    "PROXY_SCHEMES",
    "RETRYABLE_HANDSHAKE_STATUSES",
    "ProxyURL",
    "SENDABLE_CLOSE_CODES",
    "WebSocketURL",
    "backoff_delay",
    "backoff_step",
    "check_callback",
    "check_close",
    "check_codec",
    "check_headers_argument",
    "check_ssl_context",
    "choose_proxy",
    "default_retry_if",
    "environment_proxies",
    "handshake_headers",
    "header_problem",
    "must_wait_before_retry",
    "next_delay",
    "parse_proxy_url",
    "parse_url",
    "redact_url",
    "retry_after",
    "sendable_close_code",
]
