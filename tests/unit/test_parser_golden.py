"""FrameParser and parse_close against literal frames (RFC 6455 sections 5.2, 5.5,
5.7 and 7.4): the exact messages, and the exact code and reason of every violation
(the reason is the text of our Close frame and of the error the application sees)."""

from __future__ import annotations

import pytest

from tether.protocol import Close, FrameParser, Inbound, Ping, Pong, ProtocolViolation
from tether.protocol._close import parse_close

#: Section 5.7's frames, sent by a server (unmasked).
HELLO = bytes.fromhex("810548656c6c6f")
HEL, LO = bytes.fromhex("010348656c"), bytes.fromhex("80026c6f")
PING_HELLO = bytes.fromhex("890548656c6c6f")


def fail(*chunks: bytes, max_message_size: int = 1 << 20) -> tuple[int, str, list[Inbound]]:
    """Feed ``chunks``; the violation's code, reason and completed items."""
    parser = FrameParser(max_message_size)
    for chunk in chunks[:-1]:
        parser.feed(chunk)
    with pytest.raises(ProtocolViolation) as info:
        parser.feed(chunks[-1])
    return info.value.code, info.value.reason, info.value.completed


def test_protocol_violation_args() -> None:
    error = ProtocolViolation(1002, "why")
    assert error.args == (1002, "why")
    assert (error.code, error.reason, error.completed) == (1002, "why", [])


# --- section 5.7's examples ------------------------------------------------------------


def test_rfc_unmasked_text() -> None:
    assert FrameParser(5).feed(HELLO) == ["Hello"]


def test_rfc_fragmented_text() -> None:
    parser = FrameParser(5)
    assert parser.feed(HEL) == []
    assert parser.feed(LO) == ["Hello"]


def test_rfc_fragmented_text_with_a_ping_between() -> None:
    """Section 5.4: a control frame may come between the fragments of a message."""
    ping, text = FrameParser(5).feed(HEL + PING_HELLO + LO)
    assert isinstance(ping, Ping) and ping.payload == b"Hello"
    assert text == "Hello"


def test_rfc_ping_then_pong() -> None:
    ping, pong = FrameParser(0).feed(PING_HELLO + bytes.fromhex("8a0548656c6c6f"))
    assert isinstance(ping, Ping) and ping.payload == b"Hello"
    assert isinstance(pong, Pong) and pong.payload == b"Hello"


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("8200", 0),
        ("827d", 125),
        ("827e007e", 126),
        ("827e0100", 256),  # section 5.7: 256 bytes binary in a single unmasked frame
        ("827effff", 65535),
        ("827f0000000000010000", 65536),  # section 5.7: 64 KiB
    ],
)
def test_binary_lengths(header: str, size: int) -> None:
    payload = bytes(i % 253 for i in range(size))
    frame = bytes.fromhex(header) + payload
    assert FrameParser(65536).feed(frame + HELLO) == [payload, "Hello"]
    parser = FrameParser(65536)
    assert parser.feed(frame[:-1] if size else frame[:1]) == []
    assert parser.wanted == 1
    assert parser.feed(frame[-1:] + HELLO) == [payload, "Hello"]


def test_wanted_after_a_whole_16_bit_header() -> None:
    parser = FrameParser(1000)
    assert parser.feed(bytes.fromhex("827e00c8")) == []
    assert parser.wanted == 200
    assert parser.feed(b"z" * 199) == []
    assert parser.wanted == 1
    assert parser.feed(b"z") == [b"z" * 200]
    assert parser.wanted == 0


def test_wanted_after_a_whole_64_bit_header() -> None:
    parser = FrameParser(1 << 17)
    assert parser.feed(bytes.fromhex("827f0000000000010001")) == []
    assert parser.wanted == 65537


@pytest.mark.parametrize(
    ("head", "wanted"),
    [("82", 1), ("827e", 2), ("827e01", 1), ("827f", 8), ("827f00000000000001", 1)],
)
def test_wanted_inside_a_header(head: str, wanted: int) -> None:
    parser = FrameParser(1 << 20)
    assert parser.feed(bytes.fromhex(head)) == []
    assert parser.wanted == wanted


def test_the_rest_of_a_frame_and_the_next_in_one_read() -> None:
    parser = FrameParser(1000)
    assert parser.feed(bytes.fromhex("820a") + b"01234") == []
    assert parser.feed(b"56789" + HELLO) == [b"0123456789", "Hello"]


def test_fragments_then_a_new_message() -> None:
    """After a fragmented message ends, its size no longer counts against the next."""
    parser = FrameParser(5)
    assert parser.feed(HEL + LO) == ["Hello"]
    assert parser.feed(bytes.fromhex("8205") + b"12345") == [b"12345"]


def test_fragmented_binary_message() -> None:
    frames = (
        bytes.fromhex("0201") + b"a" + bytes.fromhex("0001") + b"b" + bytes.fromhex("8001") + b"c"
    )
    assert FrameParser(3).feed(frames) == [b"abc"]


# --- violations: the exact code and reason ---------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("818537fa213d7f9f4d5158", 1002, "the server masked a frame"),
        ("c100", 1002, "reserved bits set, no extension agreed"),
        ("a100", 1002, "reserved bits set, no extension agreed"),
        ("9100", 1002, "reserved bits set, no extension agreed"),
        ("8300", 1002, "unknown opcode 0x3"),
        ("8b00", 1002, "unknown opcode 0xb"),
        ("8f00", 1002, "unknown opcode 0xf"),
        ("8a7e007e", 1002, "control frame over 125 bytes"),
        ("887e007e", 1002, "control frame over 125 bytes"),
        ("0900", 1002, "fragmented control frame"),
        ("0800", 1002, "fragmented control frame"),
        ("8000", 1002, "continuation frame without a message"),
        ("0101610100", 1002, "new message inside a fragmented one"),
        ("0101618200", 1002, "new message inside a fragmented one"),
        ("827f8000000000000000", 1002, "frame length has its top bit set"),
        ("8101ff", 1007, "text message is not valid UTF-8"),
        ("0101e28001ac", 1007, "text message is not valid UTF-8"),
        ("880103", 1002, "Close frame with a 1-byte payload"),
        ("880203ed", 1002, "invalid close code 1005"),
        ("880303e8ff", 1007, "Close reason is not UTF-8"),
    ],
)
def test_violation(frame: str, code: int, reason: str) -> None:
    assert fail(bytes.fromhex(frame)) == (code, reason, [])


def test_violation_keeps_what_came_before() -> None:
    code, reason, completed = fail(HELLO + PING_HELLO + bytes.fromhex("8300"))
    assert (code, reason, completed[0]) == (1002, "unknown opcode 0x3", "Hello")
    assert isinstance(completed[1], Ping) and len(completed) == 2


def test_message_too_big() -> None:
    assert fail(bytes.fromhex("8206"), max_message_size=5) == (
        1009,
        "a message of 6 bytes exceeds max_message_size=5",
        [],
    )


def test_message_too_big_across_fragments() -> None:
    assert fail(HEL, bytes.fromhex("8003"), max_message_size=5) == (
        1009,
        "a message of 6 bytes exceeds max_message_size=5",
        [],
    )


def test_message_too_big_at_the_third_fragment() -> None:
    """Every fragment adds to the size: 2 + 2 + 2 bytes are over a limit of 5."""
    fragments = bytes.fromhex("01026162") + bytes.fromhex("00026364")
    assert fail(fragments, bytes.fromhex("8002"), max_message_size=5) == (
        1009,
        "a message of 6 bytes exceeds max_message_size=5",
        [],
    )
    assert FrameParser(6).feed(fragments + bytes.fromhex("80026566")) == ["abcdef"]


def test_top_bit_beats_max_message_size() -> None:
    assert fail(bytes.fromhex("827f8000000000000001"), max_message_size=10) == (
        1002,
        "frame length has its top bit set",
        [],
    )


def test_largest_63_bit_length_is_too_big_not_invalid() -> None:
    code, reason, _ = fail(bytes.fromhex("827f7fffffffffffffff"), max_message_size=10)
    assert (code, reason) == (
        1009,
        f"a message of {2**63 - 1:,} bytes exceeds max_message_size=10",
    )


# --- close codes (section 7.4) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        (b"", 1005, ""),
        (b"\x03\xe8", 1000, ""),
        (b"\x03\xe9bye", 1001, "bye"),
        (b"\x03\xf6x", 1014, "x"),
        (b"\x0b\xb8", 3000, ""),
        (b"\x13\x87\xc3\xa9", 4999, "\u00e9"),
    ],
)
def test_parse_close(payload: bytes, code: int, reason: str) -> None:
    close = parse_close(payload)
    assert isinstance(close, Close)
    assert (close.code, close.reason) == (code, reason)


@pytest.mark.parametrize("code", [0, 999, 1004, 1006, 1015, 2999, 5000])
def test_parse_close_invalid_code(code: int) -> None:
    with pytest.raises(ProtocolViolation) as info:
        parse_close(code.to_bytes(2, "big"))
    assert (info.value.code, info.value.reason) == (1002, f"invalid close code {code}")
