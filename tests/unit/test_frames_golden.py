"""Client frames, masking and close payloads byte for byte (RFC 6455 sections 5.2, 5.3,
5.5.1, 5.7 and 7.4), with the masking key pinned: the expected bytes are written out
from the RFC, not computed by tether."""

from __future__ import annotations

import os
import sys

import pytest

import tether.protocol._masking as masking
from tether.protocol import (
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    close_payload,
    encode_control,
    encode_frame,
    encode_frame_split,
    fit_close_reason,
)
from tether.protocol._masking import _c_apply_mask, mask

try:  # the speedups extra, imported here independently of tether
    from websockets.speedups import apply_mask as websockets_apply_mask
except ImportError:  # websockets is in the test group; without it, Python masking only
    websockets_apply_mask = None

#: Section 5.7's masking key, and its masked "Hello".
RFC_KEY = bytes.fromhex("37fa213d")
RFC_MASKED_HELLO = bytes.fromhex("7f9f4d5158")
ZERO_KEY = b"\x00\x00\x00\x00"
IMPLEMENTATIONS = ["python"] + (["c"] if websockets_apply_mask is not None else [])


def pin_key(monkeypatch: pytest.MonkeyPatch, value: bytes) -> None:
    """The next masking keys drawn from ``os.urandom`` are ``value``."""
    monkeypatch.setattr(os, "urandom", lambda n: value[:n])


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with tether's pure-Python masking, then with websockets' C one."""
    c_mask = websockets_apply_mask if request.param == "c" else None
    monkeypatch.setattr(masking, "_apply_mask", c_mask)
    return str(request.param)


# --- section 5.7's examples ------------------------------------------------------------


def test_rfc_masked_text_frame(monkeypatch: pytest.MonkeyPatch, implementation: str) -> None:
    """Section 5.7: a single-frame masked text message, 0x81 0x85 0x37 0xfa 0x21 0x3d ..."""
    pin_key(monkeypatch, RFC_KEY)
    assert encode_frame("Hello") == bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame_split("Hello") == (bytes.fromhex("818537fa213d"), RFC_MASKED_HELLO)


def test_rfc_masked_pong(monkeypatch: pytest.MonkeyPatch, implementation: str) -> None:
    """The masked Pong answering an unmasked Ping "Hello": 0x8a 0x85 0x37 0xfa 0x21 0x3d ..."""
    pin_key(monkeypatch, RFC_KEY)
    assert encode_control(OPCODE_PONG, b"Hello") == bytes.fromhex("8a8537fa213d7f9f4d5158")


def test_rfc_mask_of_hello(implementation: str) -> None:
    assert bytes(mask(b"Hello", RFC_KEY)) == RFC_MASKED_HELLO
    assert bytes(mask(RFC_MASKED_HELLO, RFC_KEY)) == b"Hello"


# --- section 5.2: the length encodings -------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, "8280"),
        (1, "8281"),
        (125, "82fd"),
        (126, "82fe007e"),
        (127, "82fe007f"),
        (65535, "82feffff"),
        (65536, "82ff0000000000010000"),
        (70000, "82ff0000000000011170"),
    ],
)
def test_binary_frame_lengths(monkeypatch: pytest.MonkeyPatch, size: int, header: str) -> None:
    """7-bit length up to 125, then 126 + 16 bits up to 65535, then 127 + 64 bits;
    the MASK bit is always set; with a zero key the payload goes out as it is."""
    payload = bytes(i % 251 for i in range(size))
    pin_key(monkeypatch, ZERO_KEY)
    assert bytes(encode_frame(payload)) == bytes.fromhex(header) + ZERO_KEY + payload


def test_text_frame_is_utf8_with_the_text_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    pin_key(monkeypatch, ZERO_KEY)
    assert encode_frame("\u00e9t\u00e9") == b"\x81\x85" + ZERO_KEY + b"\xc3\xa9t\xc3\xa9"
    assert encode_frame("") == b"\x81\x80" + ZERO_KEY


def test_control_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    pin_key(monkeypatch, ZERO_KEY)
    assert encode_control(OPCODE_PING) == b"\x89\x80" + ZERO_KEY
    assert encode_control(OPCODE_PING, b"x" * 125) == b"\x89\xfd" + ZERO_KEY + b"x" * 125
    assert encode_control(OPCODE_CLOSE, b"\x03\xe8") == b"\x88\x82" + ZERO_KEY + b"\x03\xe8"
    assert type(encode_control(OPCODE_PONG, b"p")) is bytes


def test_control_frame_over_125_bytes_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        encode_control(OPCODE_PING, b"x" * 126)
    assert str(info.value) == "a control frame carries at most 125 bytes, got 126"


# --- section 5.3: masking, either side of the pure-Python size switch ------------------


@pytest.mark.parametrize(
    "size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 4095, 4096, 4097, 4098, 4099, 4100, 8195]
)
def test_mask_repeats_the_key_from_byte_0(implementation: str, size: int) -> None:
    """Byte i is XORed with key[i % 4] (section 5.3), at every size and alignment."""
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    mask_key = bytes.fromhex("a1b2c3d4")
    expected = bytes(byte ^ (0xA1, 0xB2, 0xC3, 0xD4)[i % 4] for i, byte in enumerate(payload))
    assert bytes(mask(payload, mask_key)) == expected


def test_speedups_are_websockets_c_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """websockets' apply_mask when it is installed, unless TETHER_NO_SPEEDUPS is set
    (to anything but the empty string)."""
    pytest.importorskip("websockets.speedups")
    assert websockets_apply_mask is not None
    monkeypatch.delenv("TETHER_NO_SPEEDUPS", raising=False)
    assert _c_apply_mask() is websockets_apply_mask
    monkeypatch.setenv("TETHER_NO_SPEEDUPS", "")
    assert _c_apply_mask() is websockets_apply_mask
    monkeypatch.setenv("tether_no_speedups", "1")
    assert _c_apply_mask() is websockets_apply_mask
    monkeypatch.setenv("TETHER_NO_SPEEDUPS", "1")
    assert _c_apply_mask() is None


def test_without_websockets_the_masking_is_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_NO_SPEEDUPS", raising=False)
    monkeypatch.setitem(sys.modules, "websockets.speedups", None)  # its import fails
    monkeypatch.setitem(sys.modules, "websockets", None)
    assert _c_apply_mask() is None


# --- sections 5.5.1 and 7.4: close payloads --------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "payload"),
    [
        (1000, "", b"\x03\xe8"),
        (1001, "going away", b"\x03\xe9going away"),
        (4000, "\u00e9", b"\x0f\xa0\xc3\xa9"),
        (1011, "a" * 200, b"\x03\xf3" + b"a" * 123),
    ],
)
def test_close_payload(code: int, reason: str, payload: bytes) -> None:
    """Two bytes of code in network order, then the reason in UTF-8, 125 bytes at most."""
    assert close_payload(code, reason) == payload


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("a" * 123, "a" * 123),
        ("a" * 124, "a" * 123),
        ("\u00e9" * 61, "\u00e9" * 61),  # 122 bytes
        ("\u00e9" * 62, "\u00e9" * 61),  # 124 bytes: the last character does not fit whole
        ("a" + "\u20ac" * 41, "a" + "\u20ac" * 40),  # 124 bytes, cut inside the last euro
        ("bad \udc80 half", "bad ? half"),
    ],
)
def test_fit_close_reason(reason: str, kept: str) -> None:
    assert fit_close_reason(reason) == kept
