"""tether's own client data frames parse, in wsproto's server, as the messages sent."""

from __future__ import annotations

import hypothesis.strategies as st
import wsproto
from hypothesis import given, settings
from wsproto.events import AcceptConnection, BytesMessage, Request, TextMessage

from tether._frames import encode_frame

BOUNDARY_SIZES = [0, 1, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 65537, 300_000]


def server_after_handshake() -> wsproto.WSConnection:
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    assert any(isinstance(e, Request) for e in server.events())
    server.send(AcceptConnection())
    return server


def parse(frames: bytes) -> list[str | bytes]:
    server = server_after_handshake()
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
    assert parse(b"".join(encode_frame(m) for m in messages)) == messages


def test_frames_are_masked_with_fresh_keys() -> None:
    first, second = encode_frame(b"x" * 10), encode_frame(b"x" * 10)
    assert first[1] & 0x80  # MASK bit (RFC 6455 section 5.3: clients always mask)
    assert first[2:6] != second[2:6]
