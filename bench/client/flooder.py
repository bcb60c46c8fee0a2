"""S7's hostile neighbour: one raw WebSocket client flooding one connection.

Stdlib only (blocking sockets, two threads), started by loadgen.py beside its
100 echo clients, in the same session (so ``nice`` ranks it below the echo
clients on their shared core: see bench/README.md, S7) and pinned to the same
core (inherited affinity). Talks to its parent over its pipes:

  stdout "READY"              the handshake is done (101); the connection idles
  stdin  "go"                 start flooding
  stdout "FLOODING <json>"    the first bytes are written (the parent measures from now on)
  stdin  "stop"               stop (it also stops at its own deadline, at max_bytes,
                              or when the server closes the connection)
  stdout "RESULT <json>"      last line: what was sent, the close code, when

Variants (``spec["variant"]``):

  frag  a binary frame with FIN=0 and no payload (opcode 2), then empty
        continuation frames (opcode 0, FIN=0, length 0) for ever: a message
        that never ends and never grows
  ping  pings (opcode 9) with an 8-byte payload
  big   1 MiB binary messages (opcode 2, FIN=1), one frame each

Every frame is masked, as a client's must be. The writer sends as fast as the
socket takes (fixed chunks of whole frames, resumed where a send stopped, so
the stream stays framed). The reader drains what the server sends (pongs,
echoes: a flood that did not read would stall on TCP backpressure instead of
loading the server) and looks for a close frame: its code and the time since
the first flood byte are the result. The flooder never reconnects.

Bounded by the deadline (``flood_s``), by ``max_bytes``, and by SIGALRM
(``hard_timeout``); PR_SET_PDEATHSIG ends it if loadgen dies.

Usage: flooder.py '<json spec>'
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import json
import os
import resource
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK = 256 * 1024
PING_PAYLOAD = b"hostile!"  # 8 bytes: "small payload"
BIG = 1 << 20
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

now = time.monotonic


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    full = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(full, "big")).to_bytes(n, "big")


def client_frame(opcode: int, fin: bool, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    key = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + key + mask(payload, key)


def flood_stream(variant: str) -> tuple[bytes, bytes, int]:
    """(first chunk, every later chunk, bytes per frame) of whole frames."""
    if variant == "frag":
        opener = client_frame(2, False, b"")  # binary, FIN=0, empty
        cont = client_frame(0, False, b"")  # continuation, FIN=0, empty: 6 bytes
        n = CHUNK // len(cont)
        return opener + cont * (n - 1), cont * n, len(cont)
    if variant == "ping":
        ping = client_frame(9, True, PING_PAYLOAD)  # 14 bytes
        n = CHUNK // len(ping)
        return ping * n, ping * n, len(ping)
    if variant == "big":
        msg = client_frame(2, True, os.urandom(BIG))  # random: nothing can shortcut it
        return msg, msg, len(msg)
    raise SystemExit(f"unknown variant {variant!r}")


def handshake(sock: socket.socket, host: str, port: int, path: str, timeout: float) -> bytes:
    """A client handshake by hand; returns what followed the response head."""
    key = base64.b64encode(os.urandom(16))
    sock.settimeout(timeout)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buf = b""
    deadline = now() + timeout
    while b"\r\n\r\n" not in buf:
        if now() > deadline or len(buf) > 65536:
            raise ConnectionError(f"no handshake response: {buf[:200]!r}")
        data = sock.recv(4096)
        if not data:
            raise ConnectionError(f"closed during the handshake: {buf[:200]!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {lines[0]!r}")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    if headers.get(b"sec-websocket-accept") != accept:
        raise ConnectionError("wrong Sec-WebSocket-Accept")
    return rest


class Reader:
    """Parses the server's frames as they stream in, skipping payloads."""

    def __init__(self, variant: str) -> None:
        self.head = b""  # an incomplete frame head
        self.skip = 0  # payload bytes of the current frame still to come
        self.close_payload: bytes | None = None  # collecting a close frame's payload
        self.close_need = 0
        self.frames: dict[str, int] = {}
        self.bytes = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.close_at: float | None = None
        # Fast path for a stream of identical pongs (the ping flood's answers).
        self.pong = b"\x8a" + bytes([len(PING_PAYLOAD)]) + PING_PAYLOAD if variant == "ping" else b""

    def feed(self, data: bytes | memoryview) -> bool:
        """Parse; True once a close frame has been read."""
        self.bytes += len(data)
        mv = memoryview(data)
        pos, end = 0, len(mv)
        while pos < end:
            if self.skip:
                take = min(self.skip, end - pos)
                if self.close_payload is not None:
                    self.close_payload += bytes(mv[pos:pos + take])
                self.skip -= take
                pos += take
                if not self.skip and self.close_payload is not None:
                    self._closed(self.close_payload)
                continue
            if self.pong and not self.head:
                size = len(self.pong)
                k = (end - pos) // size
                if k and mv[pos:pos + k * size] == self.pong * k:
                    self.frames["pong"] = self.frames.get("pong", 0) + k
                    pos += k * size
                    continue
            # Frame head: 2 bytes, then 2 or 8 bytes of length (servers do not mask).
            need = 2
            avail = self.head + bytes(mv[pos:pos + 14 - len(self.head)])
            if len(avail) >= 2:
                n7 = avail[1] & 0x7F
                need = 2 + (2 if n7 == 126 else 8 if n7 == 127 else 0)
            if len(avail) < need:
                self.head = avail
                pos = end
                break
            used = need - len(self.head)
            self.head = b""
            pos += used
            opcode, n7 = avail[0] & 0x0F, avail[1] & 0x7F
            length = (struct.unpack("!H", avail[2:4])[0] if n7 == 126
                      else struct.unpack("!Q", avail[2:10])[0] if n7 == 127 else n7)
            name = OPCODES.get(opcode, str(opcode))
            self.frames[name] = self.frames.get(name, 0) + 1
            self.skip = length
            if opcode == 8:
                self.close_payload = b""
                if not length:
                    self._closed(b"")
        return self.close_at is not None

    def _closed(self, payload: bytes) -> None:
        self.close_payload = None
        if self.close_at is None:
            self.close_at = now()
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.close_reason = payload[2:].decode(errors="replace")[:200]


def main() -> None:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.alarm(int(spec["hard_timeout"]))  # the last resort: SIGALRM ends the process
    if spec.get("nice"):
        os.nice(int(spec["nice"]))
    variant = spec["variant"]
    first, chunk, frame_size = flood_stream(variant)

    sock = socket.create_connection((spec["host"], spec["port"]), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        rest = handshake(sock, spec["host"], spec["port"], spec["path"], 10.0)
    except (OSError, ConnectionError) as exc:
        say("RESULT " + json.dumps({"error": f"flooder handshake: {exc!r}"}))
        return
    reader = Reader(variant)
    if rest:
        reader.feed(rest)
    say("READY")
    if sys.stdin.readline().strip() != "go":
        say("RESULT " + json.dumps({"error": "no go"}))
        return

    # Short timeouts so both threads see `stop` soon; a send resumes mid-chunk.
    sock.settimeout(0.05)
    stop = threading.Event()
    state: dict[str, Any] = {"sent": 0, "write_error": None, "write_error_at": None, "eof_at": None,
                             "read_error": None, "first_at": None}
    deadline = now() + float(spec["flood_s"])
    max_bytes = int(spec["max_bytes"])

    def writer() -> None:
        view = memoryview(first)
        off = 0
        sent = 0
        try:
            while not stop.is_set() and reader.close_at is None and sent < max_bytes:
                if now() > deadline:
                    break
                try:
                    n = sock.send(view[off:])
                except TimeoutError:
                    continue
                if state["first_at"] is None:
                    state["first_at"] = now()
                    say("FLOODING " + json.dumps({"cpu_s": cpu_seconds(), "t": state["first_at"]}))
                sent += n
                state["sent"] = sent
                off += n
                if off == len(view):
                    view, off = memoryview(chunk), 0
        except OSError as exc:  # EPIPE/ECONNRESET: the server dropped the connection
            state["write_error"] = repr(exc)
            state["write_error_at"] = now()
        finally:
            stop.set()

    def read_loop() -> None:
        buf = bytearray(1 << 20)
        stopped: float | None = None
        while True:
            if stop.is_set():
                # Drain a moment longer, so that a close frame on its way is still read.
                stopped = stopped or now()
                if now() - stopped > 0.3:
                    return
            try:
                n = sock.recv_into(buf)
            except TimeoutError:
                continue
            except OSError as exc:  # ECONNRESET: the server dropped the connection
                state["read_error"] = repr(exc)
                state["eof_at"] = now()
                stop.set()
                return
            if not n:
                state["eof_at"] = now()
                stop.set()
                return
            if reader.feed(memoryview(buf)[:n]):
                stop.set()  # the server closed the connection: stop flooding, do not reconnect

    cpu0 = cpu_seconds()
    threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=read_loop, daemon=True)]
    for t in threads:
        t.start()

    # The parent's "stop" (or EOF) ends the flood; the writer also stops by itself
    # (deadline, max_bytes, the server's close), and then the result waits for
    # "stop" all the same, so that the parent finds us where it left us.
    told = threading.Event()

    def wait_stop() -> None:
        sys.stdin.readline()
        told.set()
        stop.set()

    threading.Thread(target=wait_stop, daemon=True).start()
    while not stop.is_set() and now() < deadline:
        stop.wait(0.05)
    stop.set()
    stopped_at = now()
    told.wait(max(deadline + 1.0 - now(), 0.0))
    threads[0].join(2.0)
    threads[1].join(2.0)
    cpu = cpu_seconds() - cpu0
    with contextlib.suppress(OSError):
        sock.close()

    first_at = state["first_at"]
    sent = state["sent"]
    closed_at = reader.close_at or state["eof_at"] or state["write_error_at"]
    # We never send a close frame and close our socket only after both threads
    # ended: a close frame, EOF or RST seen here came from the server.
    by_server = closed_at is not None
    flood_end = closed_at if by_server and closed_at else stopped_at
    flood_s = max(flood_end - first_at, 1e-9) if first_at else 0.0
    res: dict[str, Any] = {
        "variant": variant,
        "sent_bytes": sent,
        "sent_frames": sent // frame_size,
        "recv_bytes": reader.bytes,
        "recv_frames": reader.frames,
        "flood_s": flood_s,
        "sent_mib_s": sent / flood_s / 2**20 if flood_s else 0.0,
        "frames_s": sent / frame_size / flood_s if flood_s else 0.0,
        "close_code": reader.close_code,
        "close_reason": reader.close_reason,
        # From the first flood byte to the close frame (or to EOF/RST without one).
        "closed_after_s": (closed_at - first_at) if by_server and closed_at and first_at else None,
        "closed_by_server": by_server,
        "tcp_closed_after_s": (state["eof_at"] - first_at) if state["eof_at"] and first_at and by_server else None,
        "write_error": state["write_error"],
        "read_error": state["read_error"],
        "cpu_s": cpu,
        "cpu_end_s": cpu_seconds(),
        "first_at": first_at,
    }
    if first_at is None:
        res["error"] = "the flooder could not write anything"
    say("RESULT " + json.dumps(res))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
