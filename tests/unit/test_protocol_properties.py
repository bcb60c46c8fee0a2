"""Property-based: whatever bytes arrive, the protocol layer raises nothing.

A peer's garbage must end in a close frame with an RFC code, never in an
exception escaping into the server (hypothesis generates the garbage).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader

from tests.support.clients import client_frame
from tests.support.protocol import open_protocol

RFC_CODES = {1000, 1002, 1007, 1009, 1011}
CONTROL = (Opcode.PING, Opcode.PONG, Opcode.CLOSE)
opcodes = st.sampled_from([0, 1, 2, 8, 9, 10, 3, 0xB])


def server_frames(data: bytes) -> list[Frame]:
    """What the server sent: whole unmasked frames (RFC 6455 5.1), nothing else."""
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError(f"a partial frame was sent: {data!r}")
    return frames


def check_outcome(protocol, closes_sent: list[Close]) -> None:
    """Check what came out of the last input; ``closes_sent`` carries over."""
    for event in protocol.events_received():
        if isinstance(event, Frame):
            # Data frames come out as assembled messages: only control frames.
            assert event.opcode in CONTROL, event
        else:
            assert type(event) in (str, bytes), event
    for frame in server_frames(b"".join(protocol.data_to_send())):
        assert not closes_sent, f"{frame} sent after the close frame (RFC 6455 5.5.1)"
        # Fed garbage, the server only answers pings and closes.
        assert frame.opcode in (Opcode.PONG, Opcode.CLOSE), frame
        if frame.opcode is Opcode.CLOSE:
            closes_sent.append(Close.parse(frame.data))
    if protocol.close_sent is not None and protocol.close_rcvd is None:
        # We closed because of the peer's input: with an RFC 6455 7.4.1 code,
        # in a close frame that went out.
        assert protocol.close_sent.code in RFC_CODES
        assert [close.code for close in closes_sent] == [protocol.close_sent.code]
        assert protocol.state is not State.OPEN


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_bytes_never_raise(chunks):
    protocol = open_protocol(max_size=1024)
    closes_sent: list[Close] = []
    for chunk in chunks:
        protocol.receive_data(chunk)
        check_outcome(protocol, closes_sent)
    protocol.receive_eof()
    check_outcome(protocol, closes_sent)


frames = st.builds(
    lambda opcode, payload, fin, rsv1: client_frame(opcode, payload, fin=fin, rsv1=rsv1),
    opcodes, st.binary(max_size=300), st.booleans(), st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, max_size=12), st.integers(min_value=1, max_value=50))
def test_random_frames_in_random_pieces_never_raise(frame_list, piece):
    protocol = open_protocol(max_size=1024)
    data = b"".join(frame_list)
    closes_sent: list[Close] = []
    for start in range(0, len(data), piece):
        protocol.receive_data(data[start:start + piece])
        check_outcome(protocol, closes_sent)


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
