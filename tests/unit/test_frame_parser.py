"""FrameParser, encode_control and close_payload (tether.protocol) against wsproto.

wsproto's server side is the independent encoder of what the parser reads, and its
server-side parser the independent reader of what encode_control writes. Frames wsproto
refuses to send (masked, reserved bits, bad opcodes, bad close codes) are built by hand
with :func:`raw_frame`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from wsproto.events import (
    CloseConnection,
    Event,
    Message,
)
from wsproto.events import Ping as WsPing
from wsproto.events import Pong as WsPong
from wsproto.frame_protocol import CloseReason

from tether.protocol import (
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    Close,
    FrameParser,
    Inbound,
    Ping,
    Pong,
    ProtocolViolation,
    close_payload,
    encode_control,
    encode_frame,
)

from ..helpers import wsproto_server

FIN = 0x80
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Large enough for every message the property tests send.
ROOMY = 1 << 20
BOUNDARY_SIZES = [0, 1, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 65537]
#: RFC 6455 section 7.4.1 plus the IANA registry (1012-1014); 3000-4999 are also valid.
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]

#: How the tests compare what the parser yields: ("text", str), ("binary", bytes),
#: ("ping", bytes), ("pong", bytes) or ("close", code, reason).
Described = tuple[object, ...]


# --- helpers ---------------------------------------------------------------------------


def server_frames(*events: Event) -> bytes:
    """What a wsproto server sends for ``events``."""
    server = wsproto_server()
    return b"".join(server.send(event) for event in events)


def wsproto_reads(data: bytes) -> list[Event]:
    """The events wsproto's server parser sees in ``data`` (client frames)."""
    server = wsproto_server()
    server.receive_data(data)
    return list(server.events())


def raw_frame(
    first: int,
    payload: bytes = b"",
    *,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A frame built by hand: ``first`` is the FIN/RSV/opcode byte; ``length`` overrides
    the declared payload length; ``mask`` sets the MASK bit and masks the payload."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if size < 126:
        header = bytes((first, mask_bit | size))
    elif size < 65536:
        header = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
    if mask is not None:
        header += mask
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + payload


def header_size(second_byte: int) -> int:
    """Header length of an unmasked frame, from its second byte."""
    length = second_byte & 0x7F
    return 2 + (2 if length == 126 else 8 if length == 127 else 0)


def describe(item: Inbound) -> Described:
    """``item`` as a comparable tuple; checks that payloads are ``bytes``, not views."""
    if isinstance(item, str):
        return ("text", item)
    if isinstance(item, Ping):
        assert type(item.payload) is bytes
        return ("ping", item.payload)
    if isinstance(item, Pong):
        assert type(item.payload) is bytes
        return ("pong", item.payload)
    if isinstance(item, Close):
        return ("close", item.code, item.reason)
    assert type(item) is bytes
    return ("binary", item)


def parse_all(*chunks: bytes | bytearray, max_message_size: int = ROOMY) -> list[Described]:
    """Feed ``chunks`` to a fresh parser; everything it yields, described."""
    parser = FrameParser(max_message_size)
    out: list[Described] = []
    for chunk in chunks:
        out += [describe(item) for item in parser.feed(chunk)]
    assert parser.wanted == 0
    return out


def violation(*chunks: bytes, max_message_size: int = ROOMY) -> int:
    """Feed ``chunks`` to a fresh parser, which must raise before the last one is done;
    the close code of the violation."""
    parser = FrameParser(max_message_size)
    with pytest.raises(ProtocolViolation) as info:
        for chunk in chunks:
            parser.feed(chunk)
    assert info.value.reason
    assert info.value.args == (info.value.code, info.value.reason)
    return info.value.code


def binary_of_size(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def text_of_size(size: int) -> str:
    """Text of exactly ``size`` UTF-8 bytes, mostly 3-byte characters."""
    return "\u20ac" * (size // 3) + ("", "a", "\u00e9")[size % 3]


# --- the stream model ------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A Ping or Pong wsproto's server sends."""

    kind: str
    payload: bytes

    def event(self) -> Event:
        return WsPing(payload=self.payload) if self.kind == "ping" else WsPong(self.payload)


@dataclass(frozen=True)
class Sent:
    """One message, ``payload``, sent as fragments cut at ``cuts`` (sorted indices into
    ``payload``; a repeated cut makes an empty fragment), with ``between[i]`` sent after
    fragment ``i``: between fragments, never after the last."""

    payload: str | bytes
    cuts: tuple[int, ...] = ()
    between: tuple[tuple[Control, ...], ...] = ()

    def fragments(self) -> list[str | bytes]:
        bounds = [0, *self.cuts, len(self.payload)]
        return [self.payload[a:b] for a, b in itertools.pairwise(bounds)]

    def whole(self) -> Described:
        return ("text" if isinstance(self.payload, str) else "binary", self.payload)


@dataclass(frozen=True)
class Closing:
    """The Close that ends a script; ``code`` None for a Close without a body."""

    code: int | None
    reason: str


@dataclass(frozen=True)
class Stream:
    """What a script became on the wire."""

    data: bytes
    #: Offsets at which each frame ends, in order.
    frame_ends: list[int]
    #: What the parser must yield, each with the offset of the byte that completes it.
    expected: list[tuple[Described, int]]

    def frame_around(self, position: int) -> tuple[int, int] | None:
        """(start, end) of the frame ``position`` falls strictly inside, if any."""
        index = bisect.bisect_right(self.frame_ends, position)
        if index == len(self.frame_ends):
            return None
        start = self.frame_ends[index - 1] if index else 0
        return (start, self.frame_ends[index]) if start < position else None


def build(items: Sequence[Sent | Control], closing: Closing | None) -> Stream:
    """Send ``items`` then ``closing`` through one wsproto server, one frame per send."""
    server = wsproto_server()
    data = bytearray()
    ends: list[int] = []
    expected: list[tuple[Described, int]] = []

    def send(event: Event) -> None:
        data.extend(server.send(event))
        ends.append(len(data))

    for item in items:
        if isinstance(item, Control):
            send(item.event())
            expected.append(((item.kind, item.payload), len(data)))
            continue
        fragments = item.fragments()
        last = len(fragments) - 1
        for index, fragment in enumerate(fragments):
            finished = index == last
            if isinstance(fragment, str):  # two calls: Message[str] or Message[bytes], for mypy
                send(Message(data=fragment, message_finished=finished))
            else:
                send(Message(data=fragment, message_finished=finished))
            if index < last:
                for control in item.between[index]:
                    send(control.event())
                    expected.append(((control.kind, control.payload), len(data)))
        expected.append((item.whole(), len(data)))
    if closing is not None:
        if closing.code is None:
            send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
            expected.append((("close", 1005, ""), len(data)))
        else:
            send(CloseConnection(code=closing.code, reason=closing.reason))
            expected.append((("close", closing.code, closing.reason), len(data)))
    assert ends == sorted(set(ends))  # one frame (at least 2 bytes) per send
    return Stream(bytes(data), ends, expected)


controls = st.builds(Control, st.sampled_from(["ping", "pong"]), st.binary(max_size=125))
payloads: st.SearchStrategy[str | bytes] = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="a\u00e9\u20ac\U0001f600", max_size=100),
    st.binary(max_size=200),
    st.sampled_from(BOUNDARY_SIZES).map(binary_of_size),
    st.sampled_from(BOUNDARY_SIZES).map(text_of_size),
)


@st.composite
def sent_messages(draw: st.DrawFn) -> Sent:
    """A message, cut into 1-4 fragments (possibly empty), controls between them."""
    payload = draw(payloads)
    cuts = tuple(sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3))))
    between = tuple(tuple(draw(st.lists(controls, max_size=2))) for _ in cuts)
    return Sent(payload, cuts, between)


closings = st.one_of(
    st.none(),
    st.just(Closing(None, "")),
    st.builds(
        Closing,
        st.one_of(st.sampled_from(VALID_CLOSE_CODES), st.integers(3000, 4999)),
        st.text(max_size=30),  # at most 120 UTF-8 bytes: never truncated by wsproto
    ),
)
scripts = st.tuples(st.lists(st.one_of(sent_messages(), controls), max_size=6), closings)


# --- round trip through wsproto's server -----------------------------------------------


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=scripts, data=st.data())
def test_parser_yields_what_a_wsproto_server_sent(
    script: tuple[list[Sent | Control], Closing | None], data: st.DataObject
) -> None:
    """Any split of wsproto's byte stream, fed in order (some chunks as bytearray), yields
    exactly the messages and control frames sent, each as soon as its last byte arrives;
    ``wanted`` is the exact count of missing bytes once a frame's header is in."""
    stream = build(*script)
    size = len(stream.data)
    starts = [0, *stream.frame_ends[:-1]]
    near_a_header = st.sampled_from(starts).flatmap(
        lambda start: st.integers(start, min(size, start + 11))
    )
    cuts = sorted(
        data.draw(st.lists(st.one_of(st.integers(0, size), near_a_header), max_size=16), "cuts")
    )
    as_bytearray = data.draw(
        st.lists(st.booleans(), min_size=len(cuts) + 1, max_size=len(cuts) + 1), "bytearray"
    )
    parser = FrameParser(ROOMY)
    got: list[Described] = []
    previous = 0
    for cut, use_bytearray in zip([*cuts, size], as_bytearray, strict=True):
        chunk = stream.data[previous:cut]
        got += [
            describe(item) for item in parser.feed(bytearray(chunk) if use_bytearray else chunk)
        ]
        previous = cut
        assert got == [item for item, end in stream.expected if end <= cut]
        frame = stream.frame_around(cut)
        if frame is None:
            assert parser.wanted == 0
            continue
        start, end = frame
        header = header_size(stream.data[start + 1])
        if cut - start >= header:
            assert parser.wanted == end - cut
        else:  # mid-header: ask for no byte past the header, but for at least one
            assert 1 <= parser.wanted <= header - (cut - start)
    assert got == [item for item, _ in stream.expected]


def test_byte_at_a_time() -> None:
    """Every frame kind, fragments with controls between them, fed one byte per call."""
    stream = build(
        [
            Sent("h\u00e9llo \u20ac\U0001f600", (2, 8), ((Control("ping", b"p"),), ())),
            Control("pong", b"\x00\xff"),
            Sent(binary_of_size(300) + b"end", (300, 300), ((), (Control("ping", b""),))),
            Sent(binary_of_size(126)),
        ],
        Closing(1001, "bye \u00e9"),
    )
    parser = FrameParser(ROOMY)
    got: list[Described] = []
    for offset in range(len(stream.data)):
        got += [describe(item) for item in parser.feed(stream.data[offset : offset + 1])]
    assert got == [item for item, _ in stream.expected]
    assert got[-1] == ("close", 1001, "bye \u00e9")


def test_whole_stream_in_one_feed() -> None:
    stream = build(
        [Sent("ab", (1,), ((Control("ping", b"x"),),)), Sent(b"\x01")],
        Closing(None, ""),
    )
    assert parse_all(stream.data) == [item for item, _ in stream.expected]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_boundary_sizes_as_one_frame(size: int) -> None:
    """Each length encoding (7-bit, 16-bit, 64-bit) at its edges, text and binary."""
    frames = server_frames(Message(data=binary_of_size(size)), Message(data=text_of_size(size)))
    assert parse_all(frames) == [("binary", binary_of_size(size)), ("text", text_of_size(size))]


def test_binary_is_bytes_when_fed_bytearray() -> None:
    """In one piece, and reassembled from a split frame and from fragments."""
    frames = server_frames(
        Message(data=b"one"),
        Message(data=binary_of_size(1000)),
        Message(data=b"frag", message_finished=False),
        Message(data=b"ment"),
    )
    parser = FrameParser(ROOMY)
    out = parser.feed(bytearray(frames[:500]))
    out += parser.feed(bytearray(frames[500:]))
    assert out == [b"one", binary_of_size(1000), b"fragment"]
    assert [type(item) for item in out] == [bytes, bytes, bytes]


def test_a_fed_bytearray_may_be_reused_by_the_caller() -> None:
    """The parser keeps no reference to the buffer it was given."""
    frame = raw_frame(FIN | BINARY, b"payload!")
    parser = FrameParser(ROOMY)
    buffer = bytearray(frame[:5])
    assert parser.feed(buffer) == []
    buffer[:] = b"\xff" * 5
    assert parser.feed(bytearray(frame[5:])) == [b"payload!"]


def test_empty_feed_changes_nothing() -> None:
    frame = raw_frame(FIN | BINARY, b"abcdef")
    parser = FrameParser(ROOMY)
    assert parser.feed(b"") == []
    assert parser.wanted == 0
    assert parser.feed(frame[:3]) == []
    assert parser.wanted == 5
    assert parser.feed(b"") == []
    assert parser.wanted == 5
    assert parser.feed(frame[3:]) == [b"abcdef"]


def test_valid_utf8_split_across_fragments() -> None:
    """A multi-byte character cut between two fragments is fine once joined."""
    euro = "\u20ac".encode()
    frames = raw_frame(TEXT, euro[:1]) + raw_frame(CONTINUATION, euro[1:2])
    frames += raw_frame(FIN | CONTINUATION, euro[2:])
    assert parse_all(frames) == [("text", "\u20ac")]


def test_binary_need_not_be_utf8() -> None:
    assert parse_all(raw_frame(FIN | BINARY, b"\xff\xfe")) == [("binary", b"\xff\xfe")]


def test_state_resets_after_a_fragmented_message() -> None:
    """A second fragmented message may again be as large as the limit."""
    limit = 100
    one = raw_frame(BINARY, b"a" * 60) + raw_frame(FIN | CONTINUATION, b"b" * 40)
    two = raw_frame(TEXT, b"c" * 50) + raw_frame(FIN | CONTINUATION, b"d" * 50)
    assert parse_all(one, two, max_message_size=limit) == [
        ("binary", b"a" * 60 + b"b" * 40),
        ("text", "c" * 50 + "d" * 50),
    ]


# --- wanted ----------------------------------------------------------------------------


def test_wanted_counts_the_missing_payload_of_a_large_frame() -> None:
    payload = binary_of_size(70_000)
    frame = server_frames(Message(data=payload))
    assert len(frame) == 10 + 70_000
    parser = FrameParser(ROOMY)
    assert parser.feed(frame[:1010]) == []
    assert parser.wanted == 69_000
    assert parser.feed(frame[1010:5000]) == []
    assert parser.wanted == 70_010 - 5000
    assert parser.feed(frame[5000:-1]) == []
    assert parser.wanted == 1
    assert parser.feed(frame[-1:]) == [payload]
    assert parser.wanted == 0


def test_wanted_right_after_the_header() -> None:
    """Header complete, no payload byte yet: the whole payload is wanted."""
    frame = raw_frame(FIN | BINARY, b"x" * 300)
    parser = FrameParser(ROOMY)
    assert parser.feed(frame[:4]) == []
    assert parser.wanted == 300


@pytest.mark.parametrize(
    ("size", "fed", "wanted"),
    [
        pytest.param(5, 1, 1, id="7-bit-1-of-2"),
        pytest.param(300, 1, 1, id="16-bit-1-of-4"),
        pytest.param(300, 2, 2, id="16-bit-2-of-4"),
        pytest.param(300, 3, 1, id="16-bit-3-of-4"),
        pytest.param(70_000, 2, 8, id="64-bit-2-of-10"),
        pytest.param(70_000, 9, 1, id="64-bit-9-of-10"),
    ],
)
def test_wanted_inside_a_header(size: int, fed: int, wanted: int) -> None:
    """Mid-header, ``wanted`` is what completes the header (no more: the length is not
    known yet)."""
    frame = raw_frame(FIN | BINARY, bytes(size))
    parser = FrameParser(ROOMY)
    assert parser.feed(frame[:fed]) == []
    assert parser.wanted == wanted


def test_wanted_is_zero_after_whole_frames() -> None:
    parser = FrameParser(ROOMY)
    assert parser.wanted == 0
    parser.feed(raw_frame(FIN | BINARY, b""))
    assert parser.wanted == 0
    parser.feed(raw_frame(FIN | TEXT, b"hi") + raw_frame(FIN | PING, b"p"))
    assert parser.wanted == 0
    parser.feed(raw_frame(TEXT, b"fragment, message unfinished"))
    assert parser.wanted == 0  # the frame is whole even though the message is not


def test_feeding_exactly_wanted_completes_each_frame() -> None:
    """A reader that reads ``wanted`` bytes (or 1 when idle) never reads past a frame."""
    frames = [
        server_frames(Message(data=binary_of_size(n))) for n in (0, 1, 125, 126, 65536, 65537)
    ]
    data = b"".join(frames)
    parser = FrameParser(ROOMY)
    position, got = 0, []
    boundaries = set()
    total = 0
    for frame in frames:
        total += len(frame)
        boundaries.add(total)
    while position < len(data):
        step = parser.wanted or 1
        out = parser.feed(data[position : position + step])
        position += step
        if out:
            assert position in boundaries
            got += out
    assert got == [binary_of_size(n) for n in (0, 1, 125, 126, 65536, 65537)]


# --- protocol violations ---------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(raw_frame(FIN | TEXT, b"hi", mask=b"\x01\x02\x03\x04"), id="hand-built"),
        pytest.param(bytes(encode_frame(b"a client frame")), id="tether-client-frame"),
    ],
)
def test_masked_server_frame(frame: bytes) -> None:
    """Section 5.1: a server must not mask; seen from the first 2 bytes."""
    assert violation(frame) == 1002
    assert violation(frame[:2]) == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
@pytest.mark.parametrize("opcode", [TEXT, BINARY, CONTINUATION, PING])
def test_reserved_bits(rsv: int, opcode: int) -> None:
    frame = raw_frame(FIN | rsv | opcode, b"x")
    assert violation(frame) == 1002
    assert violation(frame[:2]) == 1002


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_from_the_first_two_bytes(opcode: int) -> None:
    """The header says a 64 KiB payload follows; 2 bytes are enough to fail."""
    frame = raw_frame(FIN | opcode, length=65535)
    assert violation(frame[:2]) == 1002
    assert violation(raw_frame(FIN | opcode, b"abc")) == 1002


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame(opcode: int) -> None:
    payload = b"\x03\xe8" if opcode == CLOSE else b"p"
    assert violation(raw_frame(opcode, payload)) == 1002


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
@pytest.mark.parametrize("size", [126, 65536])
def test_control_frame_over_125_bytes_from_its_header(opcode: int, size: int) -> None:
    """Refused from the header alone, before any payload arrives."""
    frame = raw_frame(FIN | opcode, length=size)
    assert len(frame) == (4 if size < 65536 else 10)
    assert violation(frame) == 1002


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_control_frame_of_125_bytes_is_fine(opcode: int) -> None:
    payload = b"\x03\xe8" + b"r" * 123 if opcode == CLOSE else b"p" * 125
    (item,) = parse_all(raw_frame(FIN | opcode, payload))
    assert item[0] in ("ping", "pong", "close")


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(raw_frame(FIN | CONTINUATION, b"x"), id="first-frame"),
        pytest.param(raw_frame(CONTINUATION, b"x"), id="first-frame-not-final"),
        pytest.param(
            raw_frame(FIN | TEXT, b"done") + raw_frame(FIN | CONTINUATION, b"x"),
            id="after-a-whole-message",
        ),
        pytest.param(
            raw_frame(TEXT, b"a")
            + raw_frame(FIN | CONTINUATION, b"b")
            + raw_frame(FIN | CONTINUATION, b"c"),
            id="after-a-fragmented-message",
        ),
    ],
)
def test_continuation_without_a_message(frames: bytes) -> None:
    assert violation(frames) == 1002


@pytest.mark.parametrize(
    ("first", "second"),
    [(TEXT, FIN | TEXT), (TEXT, BINARY), (BINARY, FIN | BINARY), (BINARY, FIN | TEXT)],
)
def test_new_data_frame_inside_a_fragmented_message(first: int, second: int) -> None:
    frames = raw_frame(first, b"a") + raw_frame(FIN | PING, b"") + raw_frame(second, b"b")
    assert violation(frames) == 1002


@pytest.mark.parametrize("opcode", [BINARY, TEXT, PING])
def test_64_bit_length_with_its_top_bit_set(opcode: int) -> None:
    """Section 5.2: the most significant bit must be 0 (a 1002, not a 1009, even with an
    unbounded max_message_size)."""
    header = bytes((FIN | opcode, 127)) + ((1 << 63) + 5).to_bytes(8, "big")
    assert violation(header, max_message_size=1 << 70) == 1002
    assert violation(header[:6], header[6:], max_message_size=1 << 70) == 1002


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff", id="ff"),
        pytest.param(b"\xc0\xaf", id="overlong"),
        pytest.param(b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="above-u10ffff"),
        pytest.param(b"ok \xe2\x82", id="truncated"),
    ],
)
def test_invalid_utf8_text(payload: bytes) -> None:
    assert violation(raw_frame(FIN | TEXT, payload)) == 1007


@pytest.mark.parametrize(
    "fragments",
    [
        pytest.param([b"\xe2\x82", b"("], id="bad-continuation-byte"),
        pytest.param([b"a\xe2", b"\x82"], id="ends-mid-character"),
        pytest.param([b"\xed", b"\xa0\x80"], id="surrogate"),
        pytest.param([b"ok", b"", b"\xff"], id="last-fragment"),
    ],
)
def test_invalid_utf8_split_across_fragments(fragments: list[bytes]) -> None:
    frames = b"".join(
        raw_frame((TEXT if i == 0 else CONTINUATION) | (FIN if i == len(fragments) - 1 else 0), f)
        for i, f in enumerate(fragments)
    )
    assert violation(frames) == 1007


@pytest.mark.parametrize("limit", [100, 1000, 70_000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_oversized_message_from_the_header_alone(limit: int, opcode: int) -> None:
    """A frame declaring max_message_size + 1 bytes is refused before its payload."""
    header = raw_frame(FIN | opcode, length=limit + 1)
    assert len(header) in (2, 4, 10)
    assert violation(header, max_message_size=limit) == 1009


@pytest.mark.parametrize("limit", [100, 1000, 70_000])
def test_message_of_exactly_max_message_size_is_fine(limit: int) -> None:
    payload = binary_of_size(limit)
    assert parse_all(raw_frame(FIN | BINARY, payload), max_message_size=limit) == [
        ("binary", payload)
    ]


def test_oversized_message_across_fragments() -> None:
    """The limit bounds the whole message: the second fragment's header is enough."""
    first = raw_frame(BINARY, b"a" * 600) + raw_frame(FIN | PING, b"p" * 125)
    second_header = raw_frame(FIN | CONTINUATION, length=401)[:4]
    assert violation(first, second_header, max_message_size=1000) == 1009
    assert violation(first, raw_frame(CONTINUATION, length=401)[:4], max_message_size=1000) == (
        1009
    )
    fits = raw_frame(FIN | CONTINUATION, b"b" * 400)
    assert parse_all(first, fits, max_message_size=1000) == [
        ("ping", b"p" * 125),
        ("binary", b"a" * 600 + b"b" * 400),
    ]


def test_control_frames_do_not_count_towards_the_message_limit() -> None:
    frames = raw_frame(TEXT, b"a" * 10) + raw_frame(FIN | PING, b"p" * 125)
    frames += raw_frame(FIN | CONTINUATION, b"b" * 10)
    assert parse_all(frames, max_message_size=20) == [
        ("ping", b"p" * 125),
        ("text", "a" * 10 + "b" * 10),
    ]


def test_close_with_a_1_byte_payload() -> None:
    assert violation(raw_frame(FIN | CLOSE, b"\x03")) == 1002


INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_invalid_close_code(code: int) -> None:
    assert violation(raw_frame(FIN | CLOSE, code.to_bytes(2, "big") + b"why")) == 1002


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_code_sent_by_wsproto(code: int) -> None:
    frames = server_frames(CloseConnection(code=code, reason="r\u00e9ason"))
    assert parse_all(frames) == [("close", code, "r\u00e9ason")]


def test_every_close_code() -> None:
    """All 65536 codes: valid exactly per RFC 6455 7.4 and the IANA registry."""
    valid = set(VALID_CLOSE_CODES) | set(range(3000, 5000))
    for code in range(65536):
        frame = raw_frame(FIN | CLOSE, code.to_bytes(2, "big"))
        if code in valid:
            assert parse_all(frame) == [("close", code, "")], code
        else:
            assert violation(frame) == 1002, code


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80"])
def test_close_reason_not_utf8(reason: bytes) -> None:
    assert violation(raw_frame(FIN | CLOSE, b"\x03\xe8" + reason)) == 1007


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(raw_frame(FIN | CLOSE), id="hand-built"),
        pytest.param(server_frames(CloseConnection(code=CloseReason.NO_STATUS_RCVD)), id="wsproto"),
    ],
)
def test_empty_close_is_1005(frame: bytes) -> None:
    assert frame == b"\x88\x00"
    assert parse_all(frame) == [("close", 1005, "")]


def test_protocol_violation_carries_code_and_reason() -> None:
    error = ProtocolViolation(1009, "too big")
    assert (error.code, error.reason) == (1009, "too big")
    assert isinstance(error, Exception)


# --- encode_control and close_payload --------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=125), opcode=st.sampled_from([OPCODE_PING, OPCODE_PONG]))
def test_encode_control_round_trips_through_wsproto(payload: bytes, opcode: int) -> None:
    frame = encode_control(opcode, payload)
    assert frame[0] == 0x80 | opcode  # FIN, no RSV
    assert frame[1] == 0x80 | len(payload)  # masked, 7-bit length
    (event,) = wsproto_reads(frame)
    assert isinstance(event, WsPing if opcode == OPCODE_PING else WsPong)
    assert bytes(event.payload) == payload


def test_encode_control_default_payload_is_empty() -> None:
    (event,) = wsproto_reads(encode_control(OPCODE_PING))
    assert isinstance(event, WsPing)
    assert bytes(event.payload) == b""


def test_encode_control_uses_fresh_masking_keys() -> None:
    keys = {encode_control(OPCODE_PING, b"same")[2:6] for _ in range(8)}
    assert len(keys) > 1


@settings(max_examples=100, deadline=None)
@given(
    code=st.one_of(st.sampled_from([1000, 1001, 1008, 1011]), st.integers(3000, 4999)),
    reason=st.text(max_size=80),
)
def test_close_round_trips_through_wsproto(code: int, reason: str) -> None:
    """wsproto sees the code and the reason, truncated to a prefix at most."""
    payload = close_payload(code, reason)
    (event,) = wsproto_reads(encode_control(OPCODE_CLOSE, payload))
    assert isinstance(event, CloseConnection)
    assert event.code == code
    assert event.reason is not None and reason.startswith(event.reason)
    assert event.reason == payload[2:].decode("utf-8")


@given(code=st.integers(1000, 4999), reason=st.text(max_size=200))
def test_close_payload_layout(code: int, reason: str) -> None:
    """Code big-endian, then the longest prefix of the reason that fits in 123 bytes."""
    payload = close_payload(code, reason)
    assert payload[:2] == code.to_bytes(2, "big")
    text = payload[2:].decode("utf-8")
    assert len(payload[2:]) <= 123
    assert reason.startswith(text)
    rest = reason[len(text) :]
    if rest:  # cut: the next character would not have fitted
        assert len(payload[2:]) + len(rest[0].encode("utf-8")) > 123


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        pytest.param("a" * 200, "a" * 123, id="ascii"),
        pytest.param("\u20ac" * 50, "\u20ac" * 41, id="3-byte-fits-exactly"),
        pytest.param("\u00e9" * 70, "\u00e9" * 61, id="2-byte-cut-before-split"),
        pytest.param("\U0001f600" * 40, "\U0001f600" * 30, id="4-byte"),
        pytest.param("ab" + "\U0001f600" * 40, "ab" + "\U0001f600" * 30, id="4-byte-offset"),
        pytest.param("short", "short", id="untouched"),
        pytest.param("", "", id="empty"),
    ],
)
def test_close_payload_truncates_at_a_character_boundary(reason: str, kept: str) -> None:
    payload = close_payload(1000, reason)
    assert payload == b"\x03\xe8" + kept.encode("utf-8")
    assert len(payload) <= 125
    encode_control(OPCODE_CLOSE, payload)  # always fits a control frame


@pytest.mark.parametrize("size", [126, 200, 65536])
def test_encode_control_rejects_over_125_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="125"):
        encode_control(OPCODE_PING, b"x" * size)


def test_encode_control_accepts_125_bytes() -> None:
    (event,) = wsproto_reads(encode_control(OPCODE_PONG, b"y" * 125))
    assert isinstance(event, WsPong)
    assert bytes(event.payload) == b"y" * 125


def test_close_reason_with_a_lone_surrogate_is_replaced_not_raised() -> None:
    """A reason UTF-8 cannot encode still makes a valid Close frame."""
    payload = close_payload(1000, "bye \ud800 now")
    assert payload == (1000).to_bytes(2, "big") + b"bye ? now"
