"""The opening handshake (tether.protocol._handshake) byte for byte: the exact request
for a known key (RFC 6455 section 1.3 and 4.1's example, whose key is the base64 of
"the sample nonce"), the exact outcome of hand-written answers, and the exact text of
every error (the text is part of the product: it ends up in logs and events).
"""

from __future__ import annotations

import os

import pytest

from tether.protocol import Accepted, ClientHandshake, HandshakeFailed, HandshakeRefused

#: RFC 6455 section 1.3: the sample nonce, its base64 (the key) and the server's answer.
NONCE = b"the sample nonce"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.fixture(autouse=True)
def sample_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every handshake of this module draws RFC 6455's sample nonce as its key."""
    monkeypatch.setattr(os, "urandom", lambda n: NONCE[:n])


def handshake(subprotocols: tuple[str, ...] = ("chat", "superchat")) -> ClientHandshake:
    client = ClientHandshake(host="server.example.com", resource="/chat", subprotocols=subprotocols)
    client.request()
    return client


def answer(status: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


SWITCHING = (b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + ACCEPT)


def failure(client: ClientHandshake, data: bytes) -> str:
    with pytest.raises(HandshakeFailed) as info:
        client.receive(data)
    return str(info.value)


# --- the request -----------------------------------------------------------------------


def test_rfc_6455_example_request() -> None:
    """Section 1.3's request (with its Origin as an extra header), in tether's order."""
    client = ClientHandshake(
        host="server.example.com",
        resource="/chat",
        subprotocols=["chat", "superchat"],
        extra_headers=[(b"Origin", b"http://example.com")],
    )
    assert client.request() == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Origin: http://example.com\r\n"
        b"\r\n"
    )


def test_request_without_subprotocols_or_extra_headers() -> None:
    client = ClientHandshake(host="b\u00fccher.example:8443", resource="/v1/feed?x=1")
    assert client.request() == (
        b"GET /v1/feed?x=1 HTTP/1.1\r\n"
        b"Host: xn--bcher-kva.example:8443\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n"
    )


# --- acceptance ------------------------------------------------------------------------


def test_rfc_6455_example_answer() -> None:
    """Section 1.3's answer, then a frame in the same read (section 5.7's "Hello")."""
    client = handshake()
    hello = b"\x81\x05Hello"
    accepted = client.receive(
        answer(b"101 Switching Protocols", *SWITCHING, b"Sec-WebSocket-Protocol: chat") + hello
    )
    assert accepted == Accepted(
        subprotocol="chat",
        headers=[
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", ACCEPT),
            (b"sec-websocket-protocol", b"chat"),
        ],
        trailing=hello,
    )


def test_header_names_are_matched_whatever_their_case() -> None:
    """HTTP header names are case-insensitive (RFC 9110 section 5.1)."""
    client = handshake()
    accepted = client.receive(
        answer(
            b"101 Switching Protocols",
            b"UPGRADE: WebSocket",
            b"connection: keep-alive , UPGRADE",
            b"SEC-WEBSOCKET-ACCEPT: " + ACCEPT,
            b"sec-websocket-PROTOCOL: superchat",
        )
    )
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == "superchat"
    assert [name for name, _ in accepted.headers] == [
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
    ]


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        # A list element may have whitespace on either side of its comma (RFC 9110 5.6.1).
        (b"websocket , h2c", b"Upgrade , keep-alive"),
        (b"h2c ,websocket", b"keep-alive ,Upgrade"),
    ],
)
def test_list_elements_are_trimmed_on_both_sides(upgrade: bytes, connection: bytes) -> None:
    client = handshake()
    headers = (b"Upgrade: " + upgrade, b"Connection: " + connection, SWITCHING[2])
    assert isinstance(client.receive(answer(b"101 Switching Protocols", *headers)), Accepted)


def test_100_continue_is_skipped_then_101_accepted() -> None:
    client = handshake(())
    accepted = client.receive(
        b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"101 Switching Protocols", *SWITCHING)
    )
    assert accepted == Accepted(
        subprotocol=None,
        headers=[
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", ACCEPT),
        ],
        trailing=b"",
    )


def test_a_non_101_informational_answer_is_not_an_acceptance() -> None:
    """102 Processing is interim like 100: the answer is still to come."""
    client = handshake()
    assert client.receive(answer(b"102 Processing", *SWITCHING)) is None


# --- invalid acceptance: the exact error text -------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (SWITCHING[1:], "101 response without 'Upgrade: websocket'"),
        ((b"Upgrade: h2c", *SWITCHING[1:]), "101 response without 'Upgrade: websocket'"),
        ((SWITCHING[0], SWITCHING[2]), "101 response without 'Connection: Upgrade'"),
        (
            (SWITCHING[0], b"Connection: close", SWITCHING[2]),
            "101 response without 'Connection: Upgrade'",
        ),
        (SWITCHING[:2], "101 response with a wrong Sec-WebSocket-Accept"),
        (
            (*SWITCHING[:2], b"Sec-WebSocket-Accept: " + ACCEPT.lower()),
            "101 response with a wrong Sec-WebSocket-Accept",
        ),
        (
            (*SWITCHING, b"Sec-WebSocket-Extensions: permessage-deflate"),
            "the server selected extension 'permessage-deflate', which the client did not offer "
            "(compression is off; RFC 6455 section 4.1: fail the connection)",
        ),
        (
            (*SWITCHING, b"Sec-WebSocket-Protocol: CHAT"),
            "the server selected subprotocol 'CHAT', which the client did not offer "
            "(offered: 'chat', 'superchat'; RFC 6455 section 4.1: fail the connection)",
        ),
    ],
)
def test_invalid_101(headers: tuple[bytes, ...], message: str) -> None:
    assert failure(handshake(), answer(b"101 Switching Protocols", *headers)) == message


def test_subprotocol_value_is_latin_1() -> None:
    client = handshake()
    message = failure(
        client, answer(b"101 Switching Protocols", *SWITCHING, b"Sec-WebSocket-Protocol: ch\xe4t")
    )
    assert message == (
        "the server selected subprotocol 'ch\u00e4t', which the client did not offer "
        "(offered: 'chat', 'superchat'; RFC 6455 section 4.1: fail the connection)"
    )


def test_upgrade_token_is_latin_1() -> None:
    """A byte over 0x7f in the Upgrade list is not an error, only not "websocket"."""
    client = handshake()
    headers = (b"Upgrade: w\xe9bsocket", *SWITCHING[1:])
    assert failure(client, answer(b"101 Switching Protocols", *headers)) == (
        "101 response without 'Upgrade: websocket'"
    )


def test_malformed_http_names_h11_reason() -> None:
    message = failure(handshake(), b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    assert message.startswith("malformed HTTP response to the upgrade: ")
    assert len(message) > len("malformed HTTP response to the upgrade: ")


@pytest.mark.parametrize(
    "before",
    [b"", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: web", b"HTTP/1.1 100 Continue\r\n\r\n"],
)
def test_eof_before_an_answer_text(before: bytes) -> None:
    client = handshake()
    if before:
        assert client.receive(before) is None
    with pytest.raises(ConnectionResetError) as info:
        client.receive(b"")
    assert str(info.value) == "the server closed the connection during the handshake"
    assert not isinstance(info.value, HandshakeFailed)


def test_eof_in_a_half_sent_status_line_is_a_reset() -> None:
    """h11 raises on a head cut by EOF: still a reset, not a malformed answer."""
    client = handshake()
    assert client.receive(b"HTTP/1.1 10") is None
    with pytest.raises(ConnectionResetError) as info:
        client.receive(b"")
    assert str(info.value) == "the server closed the connection during the handshake"


# --- rejection -------------------------------------------------------------------------


def refusal(client: ClientHandshake, *chunks: bytes) -> HandshakeRefused:
    for chunk in chunks[:-1]:
        assert client.receive(chunk) is None
    with pytest.raises(HandshakeRefused) as info:
        client.receive(chunks[-1])
    return info.value


def test_rejection_exactly() -> None:
    error = refusal(
        handshake(),
        answer(
            b"403 Forbidden",
            b"Content-Length: 6",
            b"X-Reason: Caf\xe9 Closed",
            b"X-Reason: Last Wins",
            body=b"nope\r\n",
        ),
    )
    assert str(error) == "the server answered the upgrade with HTTP 403"
    assert error.status_code == 403
    assert error.headers == {"content-length": "6", "x-reason": "Last Wins"}
    assert (error.body, error.body_truncated) == (b"nope\r\n", False)


def test_rejection_header_values_are_latin_1_and_keep_their_case() -> None:
    error = refusal(
        handshake(),
        answer(b"503 Service Unavailable", b"Content-Length: 0", b"X-Where: Caf\xe9 ABC"),
    )
    assert error.headers == {"content-length": "0", "x-where": "Caf\u00e9 ABC"}
    assert (error.body, error.body_truncated) == (b"", False)


def test_rejection_body_cut_at_4096_bytes() -> None:
    head = answer(b"500 Internal Server Error", b"Content-Length: 5000")
    error = refusal(handshake(), head, b"x" * 4096 + b"y")
    assert (error.body, error.body_truncated) == (b"x" * 4096, True)
    assert error.status_code == 500


def test_rejection_body_filled_over_several_reads_then_cut() -> None:
    head = answer(b"500 Internal Server Error", b"Content-Length: 5000")
    error = refusal(handshake(), head + b"a" * 3000, b"b" * 1096, b"c")
    assert (error.body, error.body_truncated) == (b"a" * 3000 + b"b" * 1096, True)


def test_rejection_body_cut_short_by_eof_is_not_marked_truncated() -> None:
    """The server sent less than it announced: what came is the whole body we have."""
    head = answer(b"503 Service Unavailable", b"Content-Length: 100")
    error = refusal(handshake(), head + b"ten bytes!", b"")
    assert (error.status_code, error.body, error.body_truncated) == (503, b"ten bytes!", False)
    assert error.headers == {"content-length": "100"}


def test_rejection_delimited_by_eof() -> None:
    head = answer(b"503 Service Unavailable", b"Connection: close")
    error = refusal(handshake(), head + b"busy", b"")
    assert (error.status_code, error.body, error.body_truncated) == (503, b"busy", False)
    assert error.headers == {"connection": "close"}


@pytest.mark.parametrize("more", [b"\x81\x00", b""])
def test_receive_after_acceptance_is_an_error(more: bytes) -> None:
    """The handshake is over once Accepted came back: what follows is frames, not HTTP,
    and feeding it here again is refused rather than silently dropped."""
    client = handshake(())
    assert isinstance(client.receive(answer(b"101 Switching Protocols", *SWITCHING)), Accepted)
    assert failure(client, more) == "unexpected HTTP event during the upgrade: PAUSED"


def test_handshake_refused_defaults() -> None:
    """Built without a body (as the connection layer may): empty and not cut."""
    error = HandshakeRefused(401, {"www-authenticate": "Bearer"})
    assert str(error) == "the server answered the upgrade with HTTP 401"
    assert (error.status_code, error.headers) == (401, {"www-authenticate": "Bearer"})
    assert (error.body, error.body_truncated) == (b"", False)


def test_a_subprotocol_selected_when_none_was_offered_says_none() -> None:
    client = handshake(subprotocols=())
    with pytest.raises(HandshakeFailed) as raised:
        client.receive(
            answer(b"101 Switching Protocols", *SWITCHING, b"Sec-WebSocket-Protocol: chat")
        )
    assert str(raised.value) == (
        "the server selected subprotocol 'chat', which the client did not offer "
        "(offered: none; RFC 6455 section 4.1: fail the connection)"
    )
