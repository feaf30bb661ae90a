"""The permessage-deflate offers (RFC 7692 section 5) in a client's
``Sec-WebSocket-Extensions`` header, for the benchmarks' own servers (``scale.py``,
``deflate_echo_server.py``), each of which decides what it can answer."""

from __future__ import annotations

from collections.abc import Iterator


def deflate_offers(header: str | None) -> Iterator[dict[str, str]]:
    """Each ``permessage-deflate`` offer in ``header``, in the client's order of
    preference, as its parameters: lower-case names, values unquoted (``""`` for a
    parameter given without one). Other extensions are skipped."""
    for item in (header or "").split(","):
        name, *raw = (part.strip() for part in item.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        yield {
            k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in raw)
        }
