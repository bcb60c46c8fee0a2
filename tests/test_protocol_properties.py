"""Property-based: whatever bytes arrive, the protocol layer raises nothing.

A peer's garbage must end in a close frame with an RFC code, never in an
exception escaping into the server (hypothesis generates the garbage).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame

from tests.conftest import client_frame
from tests.test_protocol import open_protocol

RFC_CODES = {1000, 1002, 1007, 1009, 1011}
opcodes = st.sampled_from([0, 1, 2, 8, 9, 10, 3, 0xB])


def check_outcome(protocol) -> None:
    for event in protocol.events_received():
        assert isinstance(event, (str, bytes, Frame))
    sent = b"".join(protocol.data_to_send())
    if protocol.close_sent is not None and protocol.close_rcvd is None:
        # We closed because of the peer's input: with an RFC 6455 7.4.1 code.
        assert protocol.close_sent.code in RFC_CODES
    assert isinstance(sent, bytes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_bytes_never_raise(chunks):
    protocol = open_protocol(max_size=1024)
    for chunk in chunks:
        protocol.receive_data(chunk)
        check_outcome(protocol)
    protocol.receive_eof()
    check_outcome(protocol)


frames = st.builds(
    lambda opcode, payload, fin, rsv1: client_frame(opcode, payload, fin=fin, rsv1=rsv1),
    opcodes, st.binary(max_size=300), st.booleans(), st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, max_size=12), st.integers(min_value=1, max_value=50))
def test_random_frames_in_random_pieces_never_raise(frame_list, piece):
    protocol = open_protocol(max_size=1024)
    data = b"".join(frame_list)
    for start in range(0, len(data), piece):
        protocol.receive_data(data[start:start + piece])
        check_outcome(protocol)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.integers(min_value=1, max_value=40), max_size=8))
def test_any_text_split_anywhere_is_reassembled(text, cuts):
    # Fragment boundaries may fall inside a UTF-8 sequence (RFC 6455 5.6).
    data = text.encode()
    bounds = sorted({min(cut, len(data)) for cut in cuts} | {len(data)})
    pieces, start = [], 0
    for bound in bounds:
        pieces.append(data[start:bound])
        start = bound
    protocol = open_protocol()
    wire = b"".join(
        client_frame(1 if n == 0 else 0, piece, fin=n == len(pieces) - 1)
        for n, piece in enumerate(pieces)
    )
    protocol.receive_data(wire)
    assert protocol.events_received() == [text]
