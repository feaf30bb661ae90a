"""The client's opening handshake (tether.protocol._handshake) against wsproto's server side.

wsproto's server parses the request ClientHandshake writes and produces the answers it
reads (acceptance, rejection); the invalid answers wsproto would never send are written
by hand with :func:`http_response`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import wsproto
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.events import (
    AcceptConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
)

import tether
from tether.protocol import (
    Accepted,
    ClientHandshake,
    FrameParser,
    HandshakeFailed,
    HandshakeRefused,
    accept_token,
)
from tether.protocol._handshake import MAX_REJECTION_BODY

Headers = list[tuple[bytes, bytes]]


# --- helpers ---------------------------------------------------------------------------


def start(
    *,
    host: str = "feed.example",
    resource: str = "/v1/stream?x=1",
    subprotocols: tuple[str, ...] = (),
    extra_headers: Headers | None = None,
) -> tuple[ClientHandshake, wsproto.WSConnection, Request]:
    """A handshake whose request a wsproto server has read: (client, server, request)."""
    client = ClientHandshake(
        host=host, resource=resource, subprotocols=subprotocols, extra_headers=extra_headers or []
    )
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.request())
    events = list(server.events())
    assert len(events) == 1 and isinstance(events[0], Request), events
    return client, server, events[0]


def key_of(request: Request) -> bytes:
    """The request's Sec-WebSocket-Key."""
    (key,) = [value for name, value in request.extra_headers if name == b"sec-websocket-key"]
    return key


def http_response(status: bytes, headers: Headers, body: bytes = b"") -> bytes:
    """An HTTP/1.1 response head (and body), written by hand."""
    lines = [b"HTTP/1.1 " + status] + [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def switching_headers(key: bytes) -> Headers:
    """The headers of a valid 101 answer to ``key``."""
    return [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", accept_token(key)),
    ]


def fresh() -> tuple[ClientHandshake, bytes]:
    """A handshake whose request was written, and its key."""
    client, _, request = start()
    return client, key_of(request)


def rejection(client: ClientHandshake, *chunks: bytes) -> HandshakeRefused:
    """Feed ``chunks``; the HandshakeRefused that must come out of the last one."""
    for chunk in chunks[:-1]:
        assert client.receive(chunk) is None
    with pytest.raises(HandshakeRefused) as info:
        client.receive(chunks[-1])
    return info.value


# --- the request -----------------------------------------------------------------------


def test_wsproto_reads_the_request() -> None:
    """Host, target, subprotocols (in order) and extra headers reach the server."""
    _, _, request = start(
        host="feed.example:8443",
        resource="/v1/stream?x=1&y=%20",
        subprotocols=("chat.v2", "chat.v1"),
        extra_headers=[(b"Authorization", b"Bearer t0ken"), (b"X-Trace", b"abc")],
    )
    assert request.host == "feed.example:8443"
    assert request.target == "/v1/stream?x=1&y=%20"
    assert request.subprotocols == ["chat.v2", "chat.v1"]
    assert request.extensions == []
    headers = request.extra_headers
    assert (b"authorization", b"Bearer t0ken") in headers
    assert (b"x-trace", b"abc") in headers
    assert (b"sec-websocket-version", b"13") in headers


def test_request_bytes() -> None:
    client = ClientHandshake(host="feed.example", resource="/ws")
    request = client.request()
    assert request.startswith(b"GET /ws HTTP/1.1\r\n")
    assert request.endswith(b"\r\n\r\n")
    assert b"\r\nHost: feed.example\r\n" in request
    assert b"Sec-WebSocket-Protocol" not in request  # none offered, none sent
    assert b"Sec-WebSocket-Extensions" not in request


def test_non_ascii_host_is_sent_as_idna() -> None:
    request = ClientHandshake(host="b\u00fccher.example", resource="/").request()
    assert b"\r\nHost: xn--bcher-kva.example\r\n" in request


def test_key_is_16_random_bytes_in_base64() -> None:
    keys = {key_of(start()[2]) for _ in range(5)}
    assert len(keys) == 5
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


def test_accept_token_matches_rfc_6455_example() -> None:
    """Section 1.3's worked example."""
    assert accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --- acceptance ------------------------------------------------------------------------


def test_wsproto_acceptance() -> None:
    client, server, request = start()
    accepted = client.receive(server.send(AcceptConnection()))
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol is None
    assert accepted.trailing == b""
    assert (b"sec-websocket-accept", accept_token(key_of(request))) in accepted.headers
    assert all(name == name.lower() for name, _ in accepted.headers)


@pytest.mark.parametrize("chosen", ["chat.v1", "chat.v2"])
def test_wsproto_acceptance_with_a_subprotocol(chosen: str) -> None:
    client, server, _ = start(subprotocols=("chat.v2", "chat.v1"))
    accepted = client.receive(server.send(AcceptConnection(subprotocol=chosen)))
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == chosen


def test_frames_in_the_same_chunk_are_trailing() -> None:
    """What follows the 101 in the same read is handed back, byte for byte."""
    client, server, _ = start()
    answer = server.send(AcceptConnection())
    frames = server.send(Message(data="hello \u00e9")) + server.send(Ping(payload=b"p"))
    frames += server.send(Message(data=b"\x00" * 200))
    accepted = client.receive(answer + frames)
    assert isinstance(accepted, Accepted)
    assert accepted.trailing == frames
    out = FrameParser(1 << 20).feed(accepted.trailing)
    assert out[0] == "hello \u00e9"
    assert out[2] == b"\x00" * 200


def test_acceptance_one_byte_at_a_time() -> None:
    client, server, _ = start(subprotocols=("chat",))
    answer = server.send(AcceptConnection(subprotocol="chat"))
    for offset in range(len(answer) - 1):
        assert client.receive(answer[offset : offset + 1]) is None
    accepted = client.receive(answer[-1:])
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == "chat"
    assert accepted.trailing == b""


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_acceptance_split_anywhere(data: st.DataObject) -> None:
    """However the answer and the first frames are cut, the answer is recognised at the
    read that completes it, and trailing holds what that read had after it."""
    client, server, _ = start()
    answer = server.send(AcceptConnection())
    frames = server.send(Message(data=b"first frame"))
    stream = answer + frames
    # No empty chunk: receive(b"") means the server closed the connection.
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=6)))
    previous = 0
    for cut in [*cuts, len(stream)]:
        result = client.receive(bytearray(stream[previous:cut]))
        if cut < len(answer):
            assert result is None
        else:
            assert isinstance(result, Accepted)
            assert result.trailing == stream[len(answer) : cut]
            return
        previous = cut


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        (b"WebSocket", b"upgrade"),
        (b"websocket", b"keep-alive, Upgrade"),
        (b"h2c, websocket", b"UPGRADE"),
    ],
)
def test_header_tokens_are_case_insensitive_lists(upgrade: bytes, connection: bytes) -> None:
    client, key = fresh()
    headers = [
        (b"Upgrade", upgrade),
        (b"Connection", connection),
        (b"Sec-WebSocket-Accept", accept_token(key)),
    ]
    assert isinstance(client.receive(http_response(b"101 Switching Protocols", headers)), Accepted)


@pytest.mark.parametrize("split", [False, True])
def test_100_continue_then_101(split: bool) -> None:
    client, server, _ = start()
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    answer = server.send(AcceptConnection())
    if split:
        assert client.receive(interim) is None
        accepted = client.receive(answer + b"\x81\x00")
    else:
        accepted = client.receive(interim + answer + b"\x81\x00")
    assert isinstance(accepted, Accepted)
    assert accepted.trailing == b"\x81\x00"


# --- invalid acceptance ----------------------------------------------------------------


def _without(name: bytes) -> Callable[[Headers], Headers]:
    return lambda headers: [(n, v) for n, v in headers if n.lower() != name]


def _replace(name: bytes, value: bytes) -> Callable[[Headers], Headers]:
    return lambda headers: [*_without(name)(headers), (name, value)]


def _adding(name: bytes, value: bytes) -> Callable[[Headers], Headers]:
    return lambda headers: [*headers, (name, value)]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            _replace(b"sec-websocket-accept", accept_token(b"dGhlIHNhbXBsZSBub25jZQ==")),
            id="accept-for-another-key",
        ),
        pytest.param(_replace(b"sec-websocket-accept", b"garbage"), id="accept-garbage"),
        pytest.param(_without(b"sec-websocket-accept"), id="no-accept"),
        pytest.param(_without(b"upgrade"), id="no-upgrade"),
        pytest.param(_replace(b"upgrade", b"h2c"), id="upgrade-to-something-else"),
        pytest.param(_without(b"connection"), id="no-connection"),
        pytest.param(_replace(b"connection", b"keep-alive"), id="connection-without-upgrade"),
        pytest.param(_adding(b"Sec-WebSocket-Extensions", b"permessage-deflate"), id="extension"),
        pytest.param(_adding(b"Sec-WebSocket-Extensions", b""), id="empty-extension"),
        pytest.param(_adding(b"Sec-WebSocket-Protocol", b"chat"), id="subprotocol-none-offered"),
    ],
)
def test_invalid_101(change: Callable[[Headers], Headers]) -> None:
    client, key = fresh()
    response = http_response(b"101 Switching Protocols", change(switching_headers(key)))
    with pytest.raises(HandshakeFailed):
        client.receive(response)


@pytest.mark.parametrize("chosen", [b"other", b"chat.v1, chat.v2", b"CHAT.V1"])
def test_subprotocol_not_offered(chosen: bytes) -> None:
    client, _, request = start(subprotocols=("chat.v1", "chat.v2"))
    headers = [*switching_headers(key_of(request)), (b"Sec-WebSocket-Protocol", chosen)]
    with pytest.raises(HandshakeFailed, match="subprotocol"):
        client.receive(http_response(b"101 Switching Protocols", headers))


def test_handshake_failed_is_a_connection_error() -> None:
    """Retried like any connection error, and not mistaken for a rejection."""
    assert issubclass(HandshakeFailed, ConnectionError)
    assert not issubclass(HandshakeFailed, HandshakeRefused)


def test_handshake_refused_is_not_a_connection_error() -> None:
    """A refusal is the status code's to classify (the connection layer maps it to
    tether.HandshakeRejected), not retried as a connection error."""
    assert not issubclass(HandshakeRefused, ConnectionError)
    error = HandshakeRefused(503, {"retry-after": "7"}, b"busy")
    assert (error.status_code, error.headers, error.body) == (503, {"retry-after": "7"}, b"busy")


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="ssh-banner"),
        pytest.param(b"<html><body>hi</body></html>\r\n\r\n", id="html"),
        pytest.param(b"HTTP/1.1 abc Nope\r\n\r\n", id="bad-status"),
        pytest.param(b"HTTP/1.1 101 Switching\r\nno colon here\r\n\r\n", id="bad-header-line"),
        pytest.param(b"\x15\x03\x03\x00\x02\x02\x28" * 4, id="tls-alert"),
    ],
)
def test_not_http(garbage: bytes) -> None:
    client, _ = fresh()
    with pytest.raises(HandshakeFailed):
        client.receive(garbage)


def test_endless_header_is_refused() -> None:
    """h11 bounds the response head (16 KiB)."""
    client, _ = fresh()
    assert client.receive(b"HTTP/1.1 101 Switching Protocols\r\n") is None
    with pytest.raises(HandshakeFailed):
        client.receive(b"X-Padding: " + b"a" * 20_000 + b"\r\n")


# --- rejection -------------------------------------------------------------------------


def test_503_with_retry_after_and_a_body() -> None:
    client, _ = fresh()
    body = b"<h1>busy</h1>"
    response = http_response(
        b"503 Service Unavailable",
        [
            (b"Retry-After", b"7"),
            (b"Content-Type", b"text/html"),
            (b"X-Mixed-CASE", b"Value Kept"),
            (b"Content-Length", str(len(body)).encode()),
        ],
        body,
    )
    error = rejection(client, response)
    assert error.status_code == 503
    assert error.headers["retry-after"] == "7"
    assert error.headers["x-mixed-case"] == "Value Kept"
    assert all(name == name.lower() for name in error.headers)
    assert error.body == body


def test_wsproto_rejection_with_a_chunked_body() -> None:
    client, server, _ = start()
    head = server.send(
        RejectConnection(status_code=503, headers=[(b"Retry-After", b"7")], has_body=True)
    )
    body = server.send(RejectData(data=b"try ", body_finished=False))
    body += server.send(RejectData(data=b"later"))
    error = rejection(client, head, body)
    assert (error.status_code, error.headers["retry-after"], error.body) == (503, "7", b"try later")


def test_wsproto_rejection_without_a_body() -> None:
    client, server, _ = start()
    error = rejection(client, server.send(RejectConnection(status_code=403)))
    assert (error.status_code, error.body) == (403, b"")


def test_rejection_waits_for_its_whole_body() -> None:
    client, _ = fresh()
    response = http_response(b"429 Too Many Requests", [(b"Content-Length", b"10")], b"0123456789")
    error = rejection(client, response[:-4], response[-4:-1], response[-1:])
    assert (error.status_code, error.body) == (429, b"0123456789")


def test_rejection_one_byte_at_a_time() -> None:
    client, _ = fresh()
    response = http_response(b"404 Not Found", [(b"Content-Length", b"3")], b"nah")
    error = rejection(client, *(response[i : i + 1] for i in range(len(response))))
    assert (error.status_code, error.body) == (404, b"nah")


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_4_kib_is_cut(chunked: bool) -> None:
    """Raised as soon as more than 4 KiB came, without waiting for the rest; the body
    is the first 4 KiB, marked as cut."""
    client, _ = fresh()
    body = bytes(i % 256 for i in range(100_000))
    if chunked:
        head = http_response(b"500 Internal Server Error", [(b"Transfer-Encoding", b"chunked")])
        payload = b"".join(
            b"%x\r\n" % len(body[i : i + 1000]) + body[i : i + 1000] + b"\r\n"
            for i in range(0, 7000, 1000)
        )
    else:
        head = http_response(b"500 Internal Server Error", [(b"Content-Length", b"100000")])
        payload = body[:7000]
    error = rejection(client, head, payload)
    assert MAX_REJECTION_BODY == 4096 == tether.HandshakeRejected.MAX_BODY
    assert error.body == body[:MAX_REJECTION_BODY]
    assert error.body_truncated


def test_body_over_4_kib_raised_by_the_byte_after_the_limit() -> None:
    """The 4096th byte does not tell whether the body goes on; the next byte does."""
    client, _ = fresh()
    head = http_response(b"500 Internal Server Error", [(b"Content-Length", b"100000")])
    error = rejection(client, head, b"a" * 4095, b"b", b"c")
    assert error.body == b"a" * 4095 + b"b"
    assert error.body_truncated


def test_body_of_exactly_4_kib_is_not_cut() -> None:
    client, _ = fresh()
    body = b"b" * MAX_REJECTION_BODY
    head = http_response(b"502 Bad Gateway", [(b"Content-Length", b"4096")])
    error = rejection(client, head, body[:1000], body[1000:])
    assert (error.body, error.body_truncated) == (body, False)


def test_handshake_rejected_keeps_at_most_4_kib_of_a_body() -> None:
    error = tether.HandshakeRejected(503, {}, b"0123456789" * 100_000)
    assert error.body == (b"0123456789" * 410)[:4096]
    assert error.body_truncated
    short = tether.HandshakeRejected(503, {}, b"busy")
    assert (short.body, short.body_truncated) == (b"busy", False)


def test_body_cut_short_by_eof() -> None:
    """The server closed before the Content-Length was reached: keep what came."""
    client, _ = fresh()
    head = http_response(b"503 Service Unavailable", [(b"Content-Length", b"100")])
    error = rejection(client, head + b"only ten b", b"")
    assert (error.status_code, error.body) == (503, b"only ten b")


def test_chunked_body_cut_short_by_eof() -> None:
    client, _ = fresh()
    head = http_response(b"503 Service Unavailable", [(b"Transfer-Encoding", b"chunked")])
    error = rejection(client, head + b"5\r\nhello\r\n10\r\npart", b"")
    assert error.body == b"hellopart"


@pytest.mark.parametrize("body", [[], [b"first ", b"second"]])
def test_body_delimited_by_eof(body: list[bytes]) -> None:
    """No Content-Length: the body is everything until the server closes."""
    client, _ = fresh()
    head = http_response(b"503 Service Unavailable", [(b"Connection", b"close")])
    error = rejection(client, head, *body, b"")
    assert (error.status_code, error.body) == (503, b"".join(body))


def test_interim_response_then_rejection() -> None:
    client, _ = fresh()
    response = b"HTTP/1.1 100 Continue\r\n\r\n"
    response += http_response(b"401 Unauthorized", [(b"Content-Length", b"0")])
    assert rejection(client, response).status_code == 401


def test_a_200_is_a_rejection() -> None:
    """Anything but 101 is a rejection, even a success."""
    client, key = fresh()
    response = http_response(b"200 OK", [*switching_headers(key), (b"Content-Length", b"2")], b"ok")
    error = rejection(client, response)
    assert (error.status_code, error.body) == (200, b"ok")


# --- the server goes away --------------------------------------------------------------


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"HTTP/1.1 10", id="mid-status-line"),
        pytest.param(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: web", id="mid-headers"),
        pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n", id="after-100-continue"),
    ],
)
def test_eof_before_an_answer(before: bytes) -> None:
    client, _ = fresh()
    if before:
        assert client.receive(before) is None
    with pytest.raises(ConnectionResetError):
        client.receive(b"")


def test_unfinished_garbage_then_eof_is_a_connection_error() -> None:
    """A banner that never ends its head is not known to be garbage until the server
    closes; then it is a connection error all the same (retried)."""
    client, _ = fresh()
    assert client.receive(b"SSH-2.0-OpenSSH_9.6\r\n") is None
    with pytest.raises(ConnectionError):
        client.receive(b"")
