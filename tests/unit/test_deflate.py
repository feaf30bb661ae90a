"""permessage-deflate (RFC 7692): the offer, the answer's validation, compression and
bounded decompression, RSV1's rules, and text validated read by read (RFC 6455 8.1).

The oracle for compressed bytes is zlib itself, used as RFC 7692 section 7.2 says (raw
deflate, a sync flush, the last four octets removed), independently of the code under
test.
"""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from tether import Compression, Config, ConfigError
from tether.protocol import DeflateOffer, FrameParser, ProtocolViolation, encode_frame
from tether.protocol._deflate import ExtensionAnswerError, negotiate
from tether.protocol._handshake import ClientHandshake, UnofferedSelection, accept_token

FIN, RSV1 = 0x80, 0x40
TEXT, BINARY, CONTINUATION, PING = 0x1, 0x2, 0x0, 0x9


def frame(first: int, payload: bytes) -> bytes:
    """A server (unmasked) frame."""
    size = len(payload)
    if size < 126:
        head = bytes((first, size))
    elif size < 65536:
        head = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + size.to_bytes(8, "big")
    return head + payload


def server_compress(compressor: zlib._Compress, data: bytes) -> bytes:
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def agreed(answer: str = "permessage-deflate", **offer: object) -> FrameParser:
    agreement = negotiate(DeflateOffer(**offer), answer)  # type: ignore[arg-type]
    return FrameParser(1 << 20, inflater=agreement.inflater())


# --- the offer and the answer ----------------------------------------------------------


def test_default_offer_header() -> None:
    assert DeflateOffer().header_value() == b"permessage-deflate; client_max_window_bits"


def test_offer_with_every_parameter() -> None:
    offer = DeflateOffer(
        server_max_window_bits=10, client_no_context_takeover=True, server_no_context_takeover=True
    )
    assert offer.header_value() == (
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        b"server_max_window_bits=10; client_max_window_bits"
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("permessage-deflate", (False, False, 12, 15)),
        ("permessage-deflate; client_max_window_bits=15", (False, False, 12, 15)),
        ("permessage-deflate; client_max_window_bits=9", (False, False, 9, 15)),
        ('permessage-deflate; client_max_window_bits="10"', (False, False, 10, 15)),
        ("permessage-deflate; server_max_window_bits=8", (False, False, 12, 8)),
        ("permessage-deflate; server_no_context_takeover", (False, True, 12, 15)),
        ("permessage-deflate; client_no_context_takeover", (True, False, 12, 15)),
        ("Permessage-Deflate ;  Server_No_Context_Takeover", (False, True, 12, 15)),
    ],
)
def test_valid_answers(answer: str, expected: tuple[bool, bool, int, int]) -> None:
    agreement = negotiate(DeflateOffer(), answer)
    assert (
        agreement.client_no_context_takeover,
        agreement.server_no_context_takeover,
        agreement.client_max_window_bits,
        agreement.server_max_window_bits,
    ) == expected


@pytest.mark.parametrize(
    ("offer", "answer", "message"),
    [
        ({}, "x-webkit-deflate-frame", "extension 'x-webkit-deflate-frame', which was not"),
        ({}, "permessage-deflate, permessage-deflate", "more than once"),
        ({}, "permessage-deflate; foo", "unknown permessage-deflate parameter 'foo'"),
        ({}, "permessage-deflate; client_max_window_bits", "client_max_window_bits=None"),
        ({}, "permessage-deflate; client_max_window_bits=16", "client_max_window_bits=16"),
        ({}, "permessage-deflate; server_max_window_bits=7", "server_max_window_bits=7"),
        ({}, "permessage-deflate; server_max_window_bits=010", "server_max_window_bits=010"),
        ({}, "permessage-deflate; server_no_context_takeover=1", "takes no value"),
        (
            {},
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "appears twice",
        ),
        ({"server_max_window_bits": 10}, "permessage-deflate", "omits the server_max_window"),
        (
            {"server_max_window_bits": 10},
            "permessage-deflate; server_max_window_bits=11",
            "server_max_window_bits=11 is above the 10 asked",
        ),
        ({"server_no_context_takeover": True}, "permessage-deflate", "omits the server_no"),
        ({}, "", "empty"),
        ({}, "permessage-deflate; a b", "malformed parameter"),
        ({}, "permessage deflate", "malformed extension 'permessage deflate'"),
        (
            {},
            'permessage-deflate; server_max_window_bits="1 0"',
            "malformed parameter 'server_max_window_bits=\"1 0\"' in 'permessage-deflate'",
        ),
    ],
)
def test_invalid_answers(offer: dict[str, object], answer: str, message: str) -> None:
    with pytest.raises(ExtensionAnswerError, match=None) as info:
        negotiate(DeflateOffer(**offer), answer)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_handshake_offers_and_reads_the_agreement(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ClientHandshake(host="h", resource="/", deflate=DeflateOffer())
    request = client.request()
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in request
    key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    head = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_token(key) + b"\r\n"
    )
    accepted = client.receive(
        head + b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
    )
    assert accepted is not None and accepted.deflate is not None
    assert accepted.deflate.server_no_context_takeover is True
    declined = ClientHandshake(host="h", resource="/", deflate=DeflateOffer())
    declined_key = declined.request().split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    answer = head.replace(accept_token(key), accept_token(declined_key)) + b"\r\n"
    accepted = declined.receive(answer)
    assert accepted is not None and accepted.deflate is None
    bad = ClientHandshake(host="h", resource="/", deflate=DeflateOffer())
    bad_key = bad.request().split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    with pytest.raises(UnofferedSelection, match="not a valid answer"):
        bad.receive(
            head.replace(accept_token(key), accept_token(bad_key))
            + b"Sec-WebSocket-Extensions: permessage-deflate; foo\r\n\r\n"
        )


# --- compression and decompression -----------------------------------------------------


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_client_frames_inflate_with_zlib(no_context_takeover: bool) -> None:
    agreement = negotiate(
        DeflateOffer(client_no_context_takeover=no_context_takeover), "permessage-deflate"
    )
    deflater = agreement.deflater()
    assert not deflater.holds_state
    decompressor = zlib.decompressobj(-12)
    messages = [f'{{"price": {i}, "symbol": "BTCUSDT", "side": "buy"}}' for i in range(20)]
    sizes = []
    for message in messages:
        wire = encode_frame(message, deflater)
        assert wire[0] == FIN | RSV1 | TEXT
        length = wire[1] & 0x7F
        key, payload = wire[2:6], bytes(wire[6 : 6 + length])
        unmasked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        if no_context_takeover:
            decompressor = zlib.decompressobj(-12)
        assert decompressor.decompress(unmasked + b"\x00\x00\xff\xff").decode() == message
        sizes.append(length)
        assert deflater.holds_state is not no_context_takeover
    if not no_context_takeover:
        assert max(sizes[5:]) < sizes[0]  # the context makes repeats cheap


def test_small_messages_go_uncompressed() -> None:
    deflater = negotiate(DeflateOffer(min_size=32), "permessage-deflate").deflater()
    assert encode_frame("x" * 31, deflater)[0] == FIN | TEXT
    assert encode_frame("x" * 32, deflater)[0] == FIN | RSV1 | TEXT


def test_an_8_bit_client_window_sends_nothing_compressed() -> None:
    agreement = negotiate(DeflateOffer(), "permessage-deflate; client_max_window_bits=8")
    assert encode_frame("y" * 5000, agreement.deflater())[0] == FIN | TEXT


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_parser_inflates_server_messages(no_context_takeover: bool) -> None:
    answer = "permessage-deflate" + ("; server_no_context_takeover" * no_context_takeover)
    agreement = negotiate(DeflateOffer(server_no_context_takeover=no_context_takeover), answer)
    inflater = agreement.inflater()
    parser = FrameParser(1 << 20, inflater=inflater)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = b""
    expected: list[str | bytes] = []
    for i in range(10):
        if no_context_takeover:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        text = f"message {i} " * 10
        wire += frame(FIN | RSV1 | TEXT, server_compress(compressor, text.encode()))
        expected.append(text)
    blob = bytes(range(256)) * 4
    compressed = server_compress(compressor, blob)
    wire += frame(RSV1 | BINARY, compressed[:10]) + frame(FIN | PING, b"p")
    wire += frame(FIN | CONTINUATION, compressed[10:]) + frame(FIN | TEXT, b"plain")
    got = parser.feed(wire)
    assert [m for m in got if isinstance(m, (str, bytes))] == [*expected, blob, "plain"]
    assert inflater.holds_state is not no_context_takeover


def test_a_deflate_bomb_is_refused_after_max_message_size_of_output() -> None:
    """About 500 KiB that inflate to 512 MiB: 1009 after at most 1 MiB + 1 byte of
    output, with memory bounded (a few copies of the input, twice the budget)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(512))
    bomb += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 600_000
    parser = agreed()
    data = frame(FIN | RSV1 | BINARY, bomb)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolViolation) as info:
            parser.feed(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == 1009
    assert info.value.reason == "a compressed message inflates beyond max_message_size=1,048,576"
    assert peak < 3 * len(data) + 5 * 2**19  # copies of the input, twice the budget


def test_a_bomb_split_across_reads_and_fragments_is_refused_too() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(bytes(4 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    half = len(bomb) // 2
    parser = agreed()
    assert parser.feed(frame(RSV1 | BINARY, bomb[:half])[:1000]) == []
    with pytest.raises(ProtocolViolation) as info:
        rest = frame(RSV1 | BINARY, bomb[:half])[1000:] + frame(FIN | CONTINUATION, bomb[half:])
        parser.feed(rest)
    assert info.value.code == 1009


def test_invalid_compressed_data_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolViolation) as info:
        agreed().feed(frame(FIN | RSV1 | TEXT, b"\xff\xff\xff\xff"))
    assert info.value.code == 1002
    assert info.value.reason.startswith("invalid compressed data")


@pytest.mark.parametrize(
    ("parser", "data", "reason"),
    [
        (
            FrameParser(100),
            frame(FIN | RSV1 | TEXT, b"x"),
            "reserved bits set, no extension agreed",
        ),
        (
            "agreed",
            frame(TEXT, b"x") + frame(FIN | RSV1 | CONTINUATION, b"y"),
            "RSV1 set on a continuation frame (RFC 7692 section 6.1)",
        ),
        (
            "agreed",
            frame(FIN | RSV1 | PING, b""),
            "RSV1 set on a control frame (RFC 7692 section 6.1)",
        ),
        (
            "agreed",
            frame(FIN | 0x20 | TEXT, b"x"),
            "RSV2 or RSV3 set, which permessage-deflate does not define",
        ),
    ],
)
def test_rsv1_rules(parser: FrameParser | str, data: bytes, reason: str) -> None:
    target = agreed() if parser == "agreed" else parser
    assert isinstance(target, FrameParser)
    with pytest.raises(ProtocolViolation) as info:
        target.feed(data)
    assert (info.value.code, info.value.reason) == (1002, reason)


# --- UTF-8, read by read (RFC 6455 section 8.1, Autobahn 6.4.x) -------------------------

PART1, PART2, PART3 = bytes.fromhex("cebae1bdb9cf83cebcceb5"), bytes.fromhex("f4908080"), b"edited"


def test_invalid_utf8_fails_at_the_fragment_that_brings_it() -> None:
    parser = FrameParser(1000)
    assert parser.feed(frame(TEXT, PART1)) == []
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(frame(CONTINUATION, PART2))
    assert info.value.code == 1007


def test_invalid_utf8_fails_at_the_read_that_brings_it_inside_one_frame() -> None:
    whole = frame(FIN | TEXT, PART1 + PART2 + PART3)
    parser = FrameParser(1000)
    cut = 2 + len(PART1)
    assert parser.feed(whole[:cut]) == []
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(whole[cut : cut + 1])  # only the first byte of PART2: F4 then...
        parser.feed(whole[cut + 1 : cut + 2])  # ...90, which F4 cannot begin
    assert info.value.code == 1007


def test_valid_text_split_anywhere_comes_through_whole() -> None:
    text = "κόσμε-édité-€" * 50
    wire = frame(TEXT, text.encode()[:33]) + frame(FIN | CONTINUATION, text.encode()[33:])
    for cut in (1, 2, 3, 7, 35, 36, len(wire) - 1):
        parser = FrameParser(10_000)
        assert parser.feed(wire[:cut]) + parser.feed(wire[cut:]) == [text]


def test_a_text_message_cut_inside_a_character_is_invalid() -> None:
    with pytest.raises(ProtocolViolation) as info:
        FrameParser(100).feed(frame(TEXT, "é".encode()[:1]) + frame(FIN | CONTINUATION, b""))
    assert info.value.code == 1007


# --- configuration ----------------------------------------------------------------------


def test_compression_is_on_by_default_and_can_be_turned_off() -> None:
    assert Config().compression == Compression()
    assert Config(compression=None).compression is None
    assert Config.from_mapping({"compression": False}).compression is None
    assert Config.from_mapping({"compression": True}).compression == Compression()
    loaded = Config.from_mapping({"compression": {"client_max_window_bits": 10, "min_size": 0}})
    assert loaded.compression == Compression(client_max_window_bits=10, min_size=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("client_max_window_bits", 8, "client_max_window_bits: must be from 9 to 15, got 8"),
        ("server_max_window_bits", 16, "server_max_window_bits: must be from 8 to 15, got 16"),
        ("memory_level", 0, "memory_level: must be from 1 to 9, got 0"),
        ("compression_level", 10, "compression_level: must be from 0 to 9, got 10"),
        ("min_size", -1, "min_size: must be >= 0, got -1"),
        ("client_no_context_takeover", 1, "client_no_context_takeover: must be a bool, got 1"),
    ],
)
def test_invalid_compression_settings(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Compression(**{field: value})  # type: ignore[arg-type]
    assert str(info.value) == message
