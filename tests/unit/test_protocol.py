"""The sans-I/O layer, fed raw bytes (no network)."""

from __future__ import annotations

import os
import struct

import pytest
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import State

from django_ws.protocol import (
    FrameBudget,
    FrameBudgetExceeded,
    WebSocketProtocol,
    build_request,
    compression_extensions,
)
from tests.support.clients import client_frame
from tests.support.protocol import open_protocol

MASK = b"\x01\x02\x03\x04"  # the mask client_frame() uses


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return client_frame(opcode, payload, fin=fin)


def sent_close(protocol: WebSocketProtocol) -> Close:
    data = b"".join(protocol.data_to_send())
    assert data[0] == 0x88, data  # an unmasked close frame
    return Close.parse(data[2:2 + data[1]])


def test_single_frame_messages():
    protocol = open_protocol()
    protocol.receive_data(frame(1, "héllo".encode()) + frame(2, b"\x00\xff"))
    assert protocol.events_received() == ["héllo", b"\x00\xff"]


def test_fragmented_text_is_assembled():  # RFC 6455 5.4
    protocol = open_protocol()
    text = "fragmenté €".encode()
    protocol.receive_data(frame(1, text[:9], fin=False))  # splits the é
    protocol.receive_data(frame(0, text[9:12], fin=False))
    assert protocol.events_received() == []
    protocol.receive_data(frame(0, text[12:]))
    assert protocol.events_received() == ["fragmenté €"]


def test_fragmented_binary_is_assembled():
    protocol = open_protocol()
    protocol.receive_data(frame(2, b"ab", fin=False) + frame(0, b"cd", fin=False) + frame(0, b"e"))
    assert protocol.events_received() == [b"abcde"]


def test_control_frames_between_fragments():  # RFC 6455 5.4
    protocol = open_protocol()
    protocol.receive_data(frame(1, b"a", fin=False) + frame(9, b"ping") + frame(0, b"b"))
    events = protocol.events_received()
    assert events[0].opcode is Opcode.PING
    assert events[1] == "ab"
    assert protocol.data_to_send()  # the pong


def test_invalid_utf8_fails_fast_with_1007():  # RFC 6455 8.1
    protocol = open_protocol()
    # The first fragment is already invalid: no need to wait for the rest.
    protocol.receive_data(frame(1, b"ok\xc0\xaf", fin=False))
    assert protocol.events_received() == []
    assert sent_close(protocol).code == CloseCode.INVALID_DATA


def test_invalid_utf8_single_frame_fails_with_1007():
    protocol = open_protocol()
    protocol.receive_data(frame(1, b"\xff"))
    assert sent_close(protocol).code == CloseCode.INVALID_DATA


def test_truncated_utf8_at_end_of_message_fails_with_1007():
    protocol = open_protocol()
    protocol.receive_data(frame(1, b"\xe2\x82", fin=False) + frame(0, b""))
    assert sent_close(protocol).code == CloseCode.INVALID_DATA


def test_close_between_fragments_is_answered_normally():
    # RFC 6455 5.5.1 / Autobahn 7.1.5: websockets alone answers 1002 here.
    protocol = open_protocol()
    protocol.receive_data(frame(1, b"part", fin=False) + frame(8, struct.pack("!H", 1000)))
    events = protocol.events_received()
    assert [e.opcode for e in events] == [Opcode.CLOSE]
    assert sent_close(protocol).code == CloseCode.NORMAL_CLOSURE


def test_continuation_without_start_is_1002():
    protocol = open_protocol()
    protocol.receive_data(frame(0, b"x"))
    assert sent_close(protocol).code == CloseCode.PROTOCOL_ERROR


def test_oversized_message_is_1009_from_the_header():
    protocol = open_protocol(max_size=1024)
    # Only the header of a 2**63-1 byte frame: refused without its payload.
    protocol.receive_data(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 2**63 - 1) + MASK)
    assert sent_close(protocol).code == CloseCode.MESSAGE_TOO_BIG


def test_fragmented_message_growing_past_the_limit_is_1009():
    protocol = open_protocol(max_size=1024)
    chunk = os.urandom(600)
    protocol.receive_data(frame(2, chunk, fin=False) + frame(0, chunk, fin=False))
    assert sent_close(protocol).code == CloseCode.MESSAGE_TOO_BIG


def test_bad_version_is_426():
    protocol = WebSocketProtocol()
    request = build_request("/", [
        ("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "8"),
    ])
    response = protocol.accept(request)
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"


def test_no_subprotocol_is_chosen_by_the_handshake():
    protocol = WebSocketProtocol()
    request = build_request("/", [
        ("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "chat"),
    ])
    response = protocol.accept(request)
    assert response.status_code == 101
    assert "Sec-WebSocket-Protocol" not in response.headers


@pytest.mark.parametrize("opcode", [3, 7, 0xB])
def test_reserved_opcodes_are_1002(opcode):
    protocol = open_protocol()
    protocol.receive_data(frame(opcode, b""))
    assert sent_close(protocol).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("length", [0, 3, 125, 126, 65535, 65536])
def test_frame_helper_round_trips_through_websockets(length):
    # Guards the hand-built frames above against a mistake of their own: a
    # masked client frame (RFC 6455 5.2, 5.3) in each length encoding.
    from websockets.streams import StreamReader

    payload = bytes(n % 251 for n in range(length))
    data = client_frame(1, payload, fin=False)
    assert data[0] == 0x01 and data[1] & 0x80  # no FIN, TEXT; the mask bit
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        parsed = done.value
    else:  # pragma: no cover
        pytest.fail("frame not parsed")
    assert (parsed.opcode, parsed.fin, parsed.data) == (Opcode.TEXT, False, payload)
    assert not reader.buffer  # the whole frame was read, nothing more


def test_many_tiny_fragments_are_assembled():
    # Autobahn 9.3/9.4 send thousands of fragments; the assembler keeps one
    # buffer, bounded by max_size, however many there are.
    protocol = open_protocol(max_size=1024)
    text = "é" * 300  # 600 bytes, fragments that split characters
    data = text.encode()
    wire = frame(1, data[:1], fin=False)
    wire += b"".join(frame(0, data[i:i + 1], fin=False) for i in range(1, len(data)))
    wire += frame(0, b"", fin=False) * 100  # empty fragments add nothing
    wire += frame(0, b"")
    protocol.receive_data(wire)
    assert protocol.events_received() == [text]


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536])
def test_frame_head_is_what_websockets_would_send(length):
    data = os.urandom(length)
    for text in (True, False):
        protocol = open_protocol()
        head = protocol.frame_head(length, text=text)
        (protocol.send_text if text else protocol.send_binary)(data)
        assert head + data == b"".join(protocol.data_to_send())


def test_frame_head_leaves_the_other_cases_to_websockets():
    # Compression, a fragmented message under way, a closing connection.
    compressed = open_protocol(
        extensions=compression_extensions({}),
        headers=(("Sec-WebSocket-Extensions", "permessage-deflate"),),
    )
    assert compressed.extensions
    assert compressed.frame_head(1, text=True) is None
    fragmenting = open_protocol()
    fragmenting.send_text(b"a", fin=False)
    assert fragmenting.frame_head(1, text=True) is None
    closing = open_protocol()
    closing.send_close(CloseCode.NORMAL_CLOSURE)
    assert closing.frame_head(1, text=True) is None


# RFC 6455 8.1, Autobahn 6.4.3/6.4.4: invalid UTF-8 fails the connection as
# soon as it arrives, also inside a text frame whose end has not arrived.


def masked_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes = b"\xc3\x3c\xa5\x5a",
) -> bytes:
    """A masked client frame with a mask that turns any wrong key offset into bad UTF-8."""
    head = client_frame(opcode, payload, fin=fin, rsv1=rsv1)[: -len(payload) - 4]
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_masked_frame_helper_round_trips_through_websockets():
    protocol = open_protocol()
    protocol.receive_data(masked_frame(1, "€ ok".encode()))
    assert protocol.events_received() == ["€ ok"]


def test_invalid_utf8_in_a_partial_text_frame_fails_at_once():
    protocol = open_protocol()
    valid = "κόσμε".encode()
    wire = masked_frame(1, valid + b"\xf4\x90\x80\x80" + b"edited")  # Autobahn 6.4.3
    end = 6 + len(valid) + 2  # the 7-bit length, the mask; 0xf4 0x90: no character starts so
    protocol.receive_data(wire[:end])
    close = sent_close(protocol)
    assert close.code == CloseCode.INVALID_DATA
    assert f"at position {len(valid)}" in close.reason
    assert isinstance(protocol.parser_exc, UnicodeDecodeError)
    assert protocol.state is State.CLOSING
    protocol.receive_data(wire[end:])  # the rest is discarded (RFC 6455 7.1.7)
    assert protocol.events_received() == []


def test_valid_partial_text_frame_waits_for_its_end():
    protocol = open_protocol()
    wire = masked_frame(1, b"x" * 300)  # a 16-bit length
    protocol.receive_data(wire[:100])
    protocol.receive_data(wire[100:200])
    assert protocol.data_to_send() == []
    assert protocol.events_received() == []
    protocol.receive_data(wire[200:])
    assert protocol.events_received() == ["x" * 300]
    assert protocol._partial is None  # nothing kept past the frame


def test_partial_text_frame_split_inside_characters_byte_by_byte():
    # Each read ends inside a character (the decoder keeps its start) and at
    # another offset in the mask.
    protocol = open_protocol()
    text = "é€𝄞" * 5
    wire = masked_frame(1, text.encode())
    for i in range(len(wire)):
        protocol.receive_data(wire[i : i + 1])
        assert protocol.data_to_send() == [], i
    assert protocol.events_received() == [text]


def test_invalid_byte_late_in_a_partial_frame_fails_when_it_arrives():
    protocol = open_protocol()
    payload = "é".encode() * 50 + b"\xff" + b"x" * 100
    wire = masked_frame(1, payload)
    bad = len(wire) - len(payload) + 100
    for i in range(bad):
        protocol.receive_data(wire[i : i + 1])
    assert protocol.data_to_send() == []
    protocol.receive_data(wire[bad : bad + 1])
    close = sent_close(protocol)
    assert close.code == CloseCode.INVALID_DATA
    assert "at position 100" in close.reason


def test_partial_continuation_frame_continues_the_message():
    # The first fragment ends with the start of a 4-byte character; the
    # continuation's first bytes can't complete it.
    protocol = open_protocol()
    protocol.receive_data(masked_frame(1, "κό".encode() + b"\xf4", fin=False))
    wire = masked_frame(0, b"\x90\x80\x80 and more")
    protocol.receive_data(wire[:7])  # header, mask, 0x90
    assert sent_close(protocol).code == CloseCode.INVALID_DATA


def test_valid_partial_continuation_frame_waits_for_its_end():
    protocol = open_protocol()
    text = "𝄞 ends here"
    data = text.encode()
    protocol.receive_data(masked_frame(1, data[:2], fin=False))
    wire = masked_frame(0, data[2:])
    for i in range(len(wire)):
        protocol.receive_data(wire[i : i + 1])
    assert protocol.data_to_send() == []
    assert protocol.events_received() == [text]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        # Binary data is not text.
        (masked_frame(2, b"\xff" * 10), None),
        # A reserved bit without an extension is a protocol error (RFC 6455 5.2).
        (masked_frame(1, b"\xff" * 10, rsv1=True), CloseCode.PROTOCOL_ERROR),
    ],
)
def test_partial_frames_that_are_not_checked_early(wire, code):
    protocol = open_protocol()
    protocol.receive_data(wire[:-5])
    assert protocol.data_to_send() == []
    protocol.receive_data(wire[-5:])
    if code is None:
        assert protocol.events_received() == [b"\xff" * 10]
    else:
        assert sent_close(protocol).code == code


def test_new_text_frame_inside_a_fragmented_message_keeps_its_1002():
    # RFC 6455 5.4; the 1002 websockets gives once the frame is complete.
    protocol = open_protocol()
    protocol.receive_data(masked_frame(1, b"start", fin=False))
    wire = masked_frame(1, b"\xff" * 10)
    protocol.receive_data(wire[:-5])
    assert protocol.data_to_send() == []
    protocol.receive_data(wire[-5:])
    assert sent_close(protocol).code == CloseCode.PROTOCOL_ERROR


def test_compressed_partial_frames_are_checked_when_complete():
    # Deflated payload bytes can't be decoded before the frame ends.
    protocol = open_protocol(
        extensions=compression_extensions({}),
        headers=(("Sec-WebSocket-Extensions", "permessage-deflate"),),
    )
    wire = masked_frame(1, b"\xff" * 10)
    protocol.receive_data(wire[:-5])
    assert protocol.data_to_send() == []
    protocol.receive_data(wire[-5:])
    assert sent_close(protocol).code == CloseCode.INVALID_DATA


# -- budgets of frames that make no message (FrameBudget) ---------------------


def budgeted(max_fragments=None, max_control_frames=None) -> WebSocketProtocol:
    return open_protocol(budget=FrameBudget(max_fragments=max_fragments,
                                            max_control_frames=max_control_frames))


def test_empty_fragments_past_the_budget_close_1008():
    # RFC 6455 7.4.1: 1008, a message that violates the endpoint's policy.
    protocol = budgeted(max_fragments=100)
    flood = frame(2, b"", fin=False) + frame(0, b"", fin=False) * 10_000
    protocol.receive_data(flood)
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close.code == CloseCode.POLICY_VIOLATION
    assert close.reason == "a message in more than 100 fragments (WEBSOCKET_MAX_FRAGMENTS)"
    assert isinstance(protocol.parser_exc, FrameBudgetExceeded)
    assert protocol.parser_exc.reason == "fragments"
    assert protocol._fragments is None  # the partial message is freed at once
    protocol.receive_data(frame(2, b"after"))  # nothing more is parsed
    assert protocol.events_received() == []


def test_a_message_within_the_fragment_budget_is_delivered_and_the_count_restarts():
    protocol = budgeted(max_fragments=4)
    for _ in range(3):
        protocol.receive_data(frame(1, b"a", fin=False) + frame(0, b"b", fin=False)
                              + frame(0, b"c", fin=False) + frame(0, b"d"))
    assert protocol.events_received() == ["abcd"] * 3
    assert protocol.state is State.OPEN


def test_pings_past_the_budget_close_1008_and_the_rest_are_not_answered():
    protocol = budgeted(max_control_frames=5)
    protocol.receive_data(frame(9, b"p") * 100)
    events = protocol.events_received()
    assert [event.opcode for event in events] == [Opcode.PING] * 5
    data = b"".join(protocol.data_to_send())
    assert data.count(b"\x8a\x01p") == 5  # five pongs, then the close
    close = Close.parse(data[data.index(b"\x88") + 2:][:data[data.index(b"\x88") + 1]])
    assert close.code == CloseCode.POLICY_VIOLATION
    assert protocol.parser_exc.reason == "control_frames"


def test_pongs_count_against_the_control_frame_budget():
    protocol = budgeted(max_control_frames=3)
    protocol.receive_data(frame(10, b"") * 4)
    assert protocol.parser_exc.reason == "control_frames"


def test_the_control_frame_budget_refills_at_its_rate(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("django_ws.protocol.time.monotonic", lambda: clock[0])
    protocol = budgeted(max_control_frames=2)
    for _ in range(10):  # two a second, for ten seconds: honest
        protocol.receive_data(frame(9, b"") * 2)
        clock[0] += 1.0
    assert protocol.state is State.OPEN
    protocol.receive_data(frame(9, b"") * 3)
    assert protocol.parser_exc.reason == "control_frames"


def test_without_a_budget_nothing_is_counted():
    protocol = open_protocol()
    protocol.receive_data(frame(9, b"") * 1000 + frame(2, b"", fin=False)
                          + frame(0, b"", fin=False) * 10_000 + frame(0, b"end"))
    assert protocol.events_received()[-1] == b"end"
    assert protocol.state is State.OPEN
