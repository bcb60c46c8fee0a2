"""Fuzzing a live server at the HTTP head and frame level (hypothesis).

Whatever a client sends, every connection ends with a 101 or a 4xx (never a
500), or with a close code of RFC 6455 7.4.1 that names the client's fault
(never 1011, our own error), and the server stays up, with no traceback in
its log. Bounded: a fixed number of examples, each with socket timeouts.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_ws.testing import LiveServer
from tests.support.clients import RawClient, connect, handshake
from tests.support.timing import TIMEOUT, UNIT

#: Close codes that say "the client did wrong" (or a normal end).
CLIENT_FAULTS = {1000, 1002, 1007, 1008, 1009}
#: DJANGO_WS_FUZZ_EXAMPLES=2000 for a deeper local run (random seeds then).
_EXAMPLES = int(os.environ.get("DJANGO_WS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=None, derandomize=_EXAMPLES <= 60,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server(live_db):
    with LiveServer(settings_module="tests.settings", env={"DJANGO_WS_TEST_DB": live_db},
                    settings={"WEBSOCKET_HANDSHAKE_TIMEOUT": 2.0 * UNIT,
                              "WEBSOCKET_CLOSE_TIMEOUT": 2.0 * UNIT}) as live:
        yield live
        log = live.log()
        if "Traceback" in log:
            start = log.index("Traceback")
            pytest.fail(log[max(0, start - 500):start + 2500])
        assert live.process.poll() is None


# -- the HTTP head -----------------------------------------------------------------

_TOKEN = st.text(st.sampled_from("abcXYZ-_019"), min_size=1, max_size=12)
_VALUE_CHARS = st.sampled_from(
    [chr(c) for c in range(0, 32)] + [" ", "\t", "a", "z", "0", ",", ";", "=", "é", "\x7f", "\xff"]
)
_HEADER = st.tuples(
    st.one_of(_TOKEN, st.sampled_from([
        "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions", "Upgrade", "Connection", "Origin", "Host",
        "Content-Length", "Transfer-Encoding", "Expect",
    ])),
    st.text(_VALUE_CHARS, max_size=40),
)
_PATH = st.one_of(
    st.sampled_from(["/echo/", "/detached/", "/chat/", "/nope/", "*", "//", "/echo/?a=%zz"]),
    st.text(st.sampled_from([chr(c) for c in range(32, 127)] + ["\x1b", "\x00", "é"]),
            max_size=30).map(lambda s: "/" + s),
)


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "HEAD", "get", "PUT", "GET GET"]),
       path=_PATH, version=st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/1.1x", ""]),
       headers=st.lists(_HEADER, max_size=8), drop_key=st.booleans())
def test_any_head_gets_an_answer_never_a_500(server, method, path, version, headers, drop_key):
    extra = [f"{name}: {value}" for name, value in headers]
    head = handshake(path, method=method, http=version, extra=extra,
                     key=None if drop_key else "dGhlIHNhbXBsZSBub25jZQ==")
    head = head.replace(b" \r\n", b"\r\n", 1) if not version else head
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(head)
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            answer = b""
    if not answer:
        return  # pywsgi closes on some unparseable request lines: an answer too
    status = int(answer.split(b" ", 2)[1])
    assert status != 500 and (status == 101 or 200 <= status < 500), answer[:200]


# -- frames ------------------------------------------------------------------------


def frame(opcode: int, payload: bytes, *, fin: bool, rsv: int, masked: bool) -> bytes:
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    mask = b"\x0a\x0b\x0c\x0d"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


_FRAME = st.builds(
    frame,
    opcode=st.one_of(st.sampled_from([0, 1, 2, 8, 9, 10]), st.integers(0, 15)),
    payload=st.one_of(st.binary(max_size=200), st.text(max_size=60).map(str.encode),
                      st.sampled_from([b"\x03\xe8", b"\x03\xe8bye", b"\x00", b"\xff\xfe",
                                       b"\xc3\x28", b"\x0b\xb8"])),
    fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
    masked=st.sampled_from([True, True, True, False]),
)


@FUZZ
@given(frames=st.lists(_FRAME, max_size=12), cut=st.integers(0, 3),
       path=st.sampled_from(["/echo/", "/detached/"]))
def test_any_frames_end_in_a_close_code_of_the_client_s_fault(server, frames, cut, path):
    client = RawClient(server, path, timeout=TIMEOUT)
    data = b"".join(frames)
    if cut and data:
        data = data[:-cut]  # a frame cut short
    try:
        client.send(data + frame(8, b"\x03\xe8", fin=True, rsv=0, masked=True))
        code = None
        while code is None:
            opcode, payload = client.recv_frame()
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (EOFError, ConnectionResetError, TimeoutError):
        code = None  # the server dropped TCP (a frame cut short, then our close inside it)
    finally:
        client.close()
    # The server's own error (1011) never; a close frame of the client's
    # (any valid code, 3000-4999 included) is answered with its own code.
    assert code != 1011
    assert code is None or code in CLIENT_FAULTS | {1001, 1003, 1005, 1010} or (
        3000 <= code < 5000), code


def test_the_server_still_serves_after_the_fuzzing(server):
    ws = connect(server, "/echo/")
    ws.send("still here")
    assert ws.recv() == "still here"
    ws.close()
