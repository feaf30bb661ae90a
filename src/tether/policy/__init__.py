"""Pure decisions, apart from the Trio shell: the retry-or-fail table, backoff with full
jitter, ``Retry-After``, URL parsing and redaction, where a redirect of the handshake
leads, the choice of proxy (``proxy=`` and the environment), the pacing of sends
(``TokenBucket``, for ``Config.send_rate``), and the checks of
``connect()``'s and ``aclose()``'s arguments and of handshake headers. Nothing here does
I/O, reads a clock
or imports trio; the session layer asks these functions and acts on the answers.
"""

from ._arguments import (
    MAX_CLOSE_REASON,
    SENDABLE_CLOSE_CODES,
    check_callback,
    check_close,
    check_close_code,
    check_codec,
    check_origin,
    check_server_hostname,
    check_ssl_context,
    check_unix_socket,
    check_user_agent,
    sendable_close_code,
)
from ._headers import (
    CREDENTIAL_HEADERS,
    DEFAULT_USER_AGENT,
    OWNED_HEADERS,
    check_headers_argument,
    handshake_headers,
    header_problem,
)
from ._pacing import TokenBucket
from ._proxy import (
    ENVIRONMENT,
    PROXY_SCHEMES,
    ProxyURL,
    choose_proxy,
    environment_proxies,
    parse_proxy_url,
)
from ._redirect import MAX_REDIRECTS, REDIRECT_STATUSES, Hop, follow_redirect, redirect_location
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
    "TokenBucket",
    "COME_BACK_LATER_CLOSE_CODES",
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_NAMES",
    "DEFAULT_USER_AGENT",
    "ENVIRONMENT",
    "FATAL_CLOSE_CODES",
    "MAX_CLOSE_REASON",
    "MAX_REDIRECTS",
    "OWNED_HEADERS",
    "REDIRECT_STATUSES",
    "PROXY_SCHEMES",
    "RETRYABLE_HANDSHAKE_STATUSES",
    "ProxyURL",
    "SENDABLE_CLOSE_CODES",
    "Hop",
    "WebSocketURL",
    "backoff_delay",
    "backoff_step",
    "check_callback",
    "check_close",
    "check_close_code",
    "check_codec",
    "check_headers_argument",
    "check_origin",
    "check_server_hostname",
    "check_ssl_context",
    "check_user_agent",
    "check_unix_socket",
    "default_retry_if",
    "follow_redirect",
    "choose_proxy",
    "environment_proxies",
    "handshake_headers",
    "header_problem",
    "must_wait_before_retry",
    "next_delay",
    "parse_proxy_url",
    "parse_url",
    "redact_url",
    "redirect_location",
    "retry_after",
    "sendable_close_code",
]
