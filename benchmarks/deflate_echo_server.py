"""A permessage-deflate echo server (RFC 7692) on picows, for ``deflate_stream.py``: a
server that is not the bottleneck of the JSON stream, so that the stream measures the
clients. Against Node ``ws`` on a 2-core machine every client streams at the server's
pace (with the server on a core of its own, the three clients came within 10 % of each
other at about 11,000 messages/s); this one inflates and deflates with Python's zlib in
picows' callbacks, several times faster.

It accepts the first ``permessage-deflate`` offer that does not ask for
``server_no_context_takeover`` or a server window under 15 bits, answering
``client_max_window_bits=15`` when the client offered that parameter; it keeps its
context both ways (one inflater and one deflater per connection, window 15, level 6,
``memLevel`` 8: Node ``ws``' defaults). Each compressed message is echoed compressed,
each uncompressed one as it came. Fragmented messages are refused with 1003 (the
stream sends none).

    python benchmarks/deflate_echo_server.py

prints the port on its first line of stdout, then serves on 127.0.0.1 until killed.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from typing import Any

from _deflate_offers import deflate_offers
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

#: RFC 7692 section 7.2.1: the tail a compressor's sync flush ends with, removed on the
#: wire and put back before inflating.
SYNC_TAIL = b"\x00\x00\xff\xff"
WINDOW_BITS = 15


def deflate_answer(offer: str | None) -> str | None:
    """The ``Sec-WebSocket-Extensions`` answer to ``offer``, or ``None`` to decline."""
    for params in deflate_offers(offer):
        if "server_no_context_takeover" in params:
            continue
        if int(params.get("server_max_window_bits") or WINDOW_BITS) < WINDOW_BITS:
            continue
        answer = "permessage-deflate"
        if "client_max_window_bits" in params:
            bits = int(params["client_max_window_bits"] or WINDOW_BITS)
            answer += f"; client_max_window_bits={min(bits, WINDOW_BITS)}"
        return answer
    return None


class DeflateEcho(WSListener):  # type: ignore[misc]
    """Echo every message; ``deflate``: permessage-deflate was agreed."""

    def __init__(self, deflate: bool) -> None:
        super().__init__()
        self.inflater = zlib.decompressobj(-WINDOW_BITS) if deflate else None
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -WINDOW_BITS, 8) if deflate else None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.CLOSE:  # pings are answered by picows
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if kind not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return
        if not frame.fin:
            transport.send_close(WSCloseCode.UNSUPPORTED_DATA, b"fragmented messages")
            transport.disconnect()
            return
        payload = frame.get_payload_as_bytes()
        if not frame.rsv1 or self.inflater is None or self.deflater is None:
            transport.send(kind, payload)
            return
        message = self.inflater.decompress(payload + SYNC_TAIL)
        compressed = self.deflater.compress(message) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        transport.send(kind, compressed[: -len(SYNC_TAIL)], True, True)


def _listener(request: WSUpgradeRequest) -> Any:
    answer = deflate_answer(request.headers.get("Sec-WebSocket-Extensions"))
    if answer is None:
        return DeflateEcho(deflate=False)
    response = WSUpgradeResponse.create_101_response(
        extra_headers={"Sec-WebSocket-Extensions": answer}
    )
    return WSUpgradeResponseWithListener(response, DeflateEcho(deflate=True))


async def main() -> None:
    server = await ws_create_server(_listener, "127.0.0.1", 0)
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
