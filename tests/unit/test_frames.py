"""tether's own client data frames parse, in wsproto's server, as the messages sent,
with either masking implementation (websockets' C function or tether's pure Python)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from wsproto.events import BytesMessage, TextMessage

import tether.protocol._masking
from tether.protocol import encode_frame, encode_frame_split
from tether.protocol._masking import mask

from ..helpers import wsproto_server

BOUNDARY_SIZES = [0, 1, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 65537, 300_000]
C_MASK = tether.protocol._masking._c_apply_mask()


@contextlib.contextmanager
def masking_with(implementation: str) -> Iterator[None]:
    """Mask with websockets' C function (``"c"``) or tether's pure Python (``"python"``)."""
    if implementation == "c" and C_MASK is None:
        pytest.skip("websockets.speedups is not installed")
    original = tether.protocol._masking._apply_mask
    tether.protocol._masking._apply_mask = C_MASK if implementation == "c" else None
    try:
        yield
    finally:
        tether.protocol._masking._apply_mask = original


def parse(frames: bytes) -> list[str | bytes]:
    server = wsproto_server()
    server.receive_data(frames)
    messages: list[str | bytes] = []
    partial: list[str | bytes] = []
    for event in server.events():
        assert isinstance(event, (TextMessage, BytesMessage)), event
        partial.append(event.data)
        if event.message_finished:
            joined = "".join(partial) if isinstance(event, TextMessage) else b"".join(partial)  # type: ignore[arg-type]
            messages.append(joined)
            partial = []
    return messages


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=300),
            st.binary(max_size=300),
            st.sampled_from(BOUNDARY_SIZES).map(lambda n: b"\x5a" * n),
            st.sampled_from(BOUNDARY_SIZES).map(lambda n: "\u00e9" * (n // 2)),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_frames_round_trip_through_wsproto(messages: list[str | bytes]) -> None:
    for implementation in ("c", "python") if C_MASK is not None else ("python",):
        with masking_with(implementation):
            assert parse(b"".join(encode_frame(m) for m in messages)) == messages
            split = b"".join(b"".join(encode_frame_split(m)) for m in messages)
            assert parse(split) == messages


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.binary(max_size=9000), st.sampled_from(BOUNDARY_SIZES).map(bytes)),
    st.binary(min_size=4, max_size=4),
)
def test_pure_python_masking_equals_websockets_c_masking(payload: bytes, key: bytes) -> None:
    if C_MASK is None:
        pytest.skip("websockets.speedups is not installed")
    expected = bytes(value ^ key[index % 4] for index, value in enumerate(payload))
    assert C_MASK(payload, key) == expected
    with masking_with("python"):
        assert bytes(mask(payload, key)) == expected


def test_frames_are_masked_with_fresh_keys() -> None:
    first, second = encode_frame(b"x" * 10), encode_frame(b"x" * 10)
    assert first[1] & 0x80  # MASK bit (RFC 6455 section 5.3: clients always mask)
    assert first[2:6] != second[2:6]
