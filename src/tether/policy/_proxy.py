"""Pure: parse proxy URLs, and choose the proxy for a target from ``connect(proxy=...)``
and the environment (``https_proxy``, ``http_proxy``, ``all_proxy``, ``no_proxy``).

The environment is an argument (a mapping), never read here: ``connect()`` passes
``os.environ``, tests pass a dict. The ``no_proxy`` matching is the standard library's
(``urllib.request.proxy_bypass_environment``: host and domain suffixes, ``*``, ports).
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Final

import attrs

from ..exceptions import ConfigError
from ._url import WebSocketURL, redact_url

__all__ = [
    "ENVIRONMENT",
    "PROXY_SCHEMES",
    "ProxyURL",
    "choose_proxy",
    "environment_proxies",
    "parse_proxy_url",
]

#: ``connect(proxy=ENVIRONMENT)``, the default: take the proxy from the environment.
ENVIRONMENT: Final = "environment"

#: Proxy URL schemes and their default ports. ``socks5h`` and ``socks4a`` let the proxy
#: resolve the target's name; ``socks5`` and ``socks4`` resolve it here (as curl does).
PROXY_SCHEMES: Final = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks4a": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}


@attrs.frozen
class ProxyURL:
    """A validated proxy URL: ``url`` as given, its ``scheme`` (lower case), ``host``
    and ``port`` (the scheme's default port filled in). ``kind`` is ``"http"`` (HTTP
    CONNECT, RFC 9110 section 9.3.6), ``"socks4"`` or ``"socks5"``; ``tls`` is true for
    ``https://`` (TLS to the proxy itself); ``remote_dns`` says the proxy resolves the
    target's name
    (``socks5h``, ``socks4a``, and always for HTTP). ``username`` and ``password`` are
    the percent-decoded userinfo (``Proxy-Authorization: Basic`` for HTTP, RFC 1929 for
    SOCKS5, the user id for SOCKS4), left out of the ``repr`` with ``url``;
    ``redacted`` is the URL as it may be shown (:func:`redact_url`)."""

    url: str = attrs.field(repr=False)
    scheme: str
    host: str
    port: int
    redacted: str
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``"http"``, ``"socks4"`` or ``"socks5"``."""
        return "http" if self.scheme in ("http", "https") else self.scheme.rstrip("ah")

    @property
    def tls(self) -> bool:
        """TLS to the proxy (``https://``)."""
        return self.scheme == "https"

    @property
    def remote_dns(self) -> bool:
        """The proxy resolves the target's name."""
        return self.scheme in ("http", "https", "socks5h", "socks4a")


def parse_proxy_url(url: object, *, name: str = "proxy") -> ProxyURL:
    """Validate a proxy URL: ``http``, ``https``, ``socks4``, ``socks4a``, ``socks5`` or
    ``socks5h``, a host, an optional port (default 80, 443 or 1080), optional
    ``user:password@``, nothing else (no path but ``/``, no query, no fragment).
    Raises :class:`ConfigError` whose message starts with ``name`` and quotes the URL
    redacted (never a credential)."""
    if not isinstance(url, str):
        raise ConfigError(f"{name}: must be a proxy URL str or None, got {type(url).__name__}")
    shown = redact_url(url)
    problem: str | None = None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        problem = "the port is not a number from 0 to 65535, or it does not parse"
    if problem is not None:
        raise ConfigError(f"{name}: {redact_url(url, loose=True)!r} is malformed: {problem}")
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ConfigError(
            f"{name}: unsupported proxy scheme in {shown!r} (use http, https, socks4, "
            "socks4a, socks5 or socks5h)"
        )
    if not parts.hostname:
        raise ConfigError(f"{name}: {shown!r} has no host")
    if port == 0:
        raise ConfigError(f"{name}: port 0 cannot be connected to, in {shown!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{name}: a proxy URL is scheme://host:port only, got {shown!r}")
    username = password = None
    if parts.username is not None:
        username = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        problem = _credentials_problem(scheme, username, password)
        if problem is not None:
            raise ConfigError(f"{name}: {problem}, in {shown!r}")
    return ProxyURL(
        url=url,
        scheme=scheme,
        host=parts.hostname,
        port=port if port is not None else PROXY_SCHEMES[scheme],
        username=username,
        password=password,
        redacted=shown,
    )


def _credentials_problem(scheme: str, username: str, password: str) -> str | None:
    """What is wrong with the userinfo for this kind of proxy (never quoting it)."""
    if scheme.startswith("socks4"):
        return "a SOCKS4 proxy takes a user id only (socks4://user@host)" if password else None
    if not username or not password:
        return "the proxy's userinfo needs a user name and a password (user:password@)"
    if scheme.startswith("socks5"):
        # RFC 1929: each is 1 to 255 bytes; python-socks sends them as ASCII.
        if not (username.isascii() and password.isascii()):
            return "SOCKS5 user names and passwords must be ASCII"
        if len(username) > 255 or len(password) > 255:
            return "SOCKS5 user names and passwords are at most 255 bytes (RFC 1929)"
        return None
    if ":" in username:
        return "the proxy user name must not contain ':' (RFC 7617)"
    try:
        f"{username}:{password}".encode("latin-1")
    except UnicodeEncodeError:
        return "HTTP proxy credentials must be Latin-1"
    return None


def environment_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``*_proxy`` variables of ``environ`` by scheme (``{"https": ..., "no": ...}``),
    as ``urllib.request.getproxies_environment()`` reads ``os.environ``: any case, the
    lower-case name winning, empty values ignored, and ``HTTP_PROXY`` ignored when
    ``REQUEST_METHOD`` is set (a CGI script, where the client sets it: "httpoxy")."""
    proxies: dict[str, str] = {}
    for key, value in environ.items():
        name = key.lower()
        if value and name.endswith("_proxy"):
            proxies[name[: -len("_proxy")]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)
    for key, value in environ.items():
        if key.endswith("_proxy"):  # lower-case names (as the stdlib: they win)
            name = key.lower()[: -len("_proxy")]
            if value:
                proxies[name] = value
            else:
                proxies.pop(name, None)
    return proxies


def choose_proxy(
    target: WebSocketURL, proxy: object, environ: Mapping[str, str]
) -> ProxyURL | None:
    """The proxy to reach ``target`` through, or ``None`` to connect directly.

    ``proxy``: a proxy URL (``str``), ``None`` (direct, whatever the environment says),
    or :data:`ENVIRONMENT`: ``https_proxy`` for a ``wss://`` target, ``http_proxy`` for
    ``ws://``, else ``all_proxy`` (any case, lower case first), unless ``no_proxy``
    matches the target's host (or ``host:port``; ``*`` matches everything, ``.example``
    and ``example`` match ``example`` and its subdomains). A value without ``://`` is
    taken as ``http://``. Raises :class:`ConfigError` for a malformed or unsupported
    proxy URL, naming the variable it came from."""
    if proxy is None:
        return None
    if proxy != ENVIRONMENT:
        return parse_proxy_url(proxy)
    proxies = environment_proxies(environ)
    scheme = "https" if target.tls else "http"
    variable = f"{scheme}_proxy" if scheme in proxies else "all_proxy"
    url = proxies.get(scheme) or proxies.get("all")
    if not url:
        return None
    # proxy_bypass_environment: what urllib.request.proxy_bypass() asks of the
    # environment on every platform; CPython's, though typeshed does not list it. An
    # IPv6 address matches no_proxy written with brackets or without.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    hosts = [target.host, f"[{target.host}]"] if ":" in target.host else [target.host]
    if any(bypass(f"{host}:{target.port}", proxies) for host in hosts):
        return None
    if "://" not in url:
        url = f"http://{url}"
    return parse_proxy_url(url, name=f"proxy: the {variable} environment variable")
