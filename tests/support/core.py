"""In-process helpers: a WebSocket over ``socket.socketpair()``, a client, a census.

As the websockets library tests its sync connection: no server process; the
other end of the pair speaks through websockets' sans-I/O ``ClientProtocol``.
gevent runs in the pytest process without monkey-patching (as in
tests/unit/connection/test_bursts.py): only gevent's own sockets, events and sleeps are used,
never a blocking stdlib call, so nothing here blocks the hub.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any

import gevent
from gevent import socket as gsocket
from greenlet import getcurrent
from greenlet import greenlet as RawGreenlet
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from django_ws.conf import ConnectionOptions
from django_ws.connection import WebSocket, bursts, open_handshake
from django_ws.connection import registry as core
from django_ws.groups.memory import MemoryBackend
from django_ws.protocol import build_request
from tests.support.timing import TIMEOUT

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
PATH = "/core/"


def make_websocket(sock: Any, *, offer: str | None = None, **options: Any) -> WebSocket:
    """A WebSocket on ``sock`` as the handler builds one; no Django settings read.

    ``offer``: the Sec-WebSocket-Protocol header of the request. Compression
    is off unless asked for: the client below does not negotiate.
    """
    options.setdefault("compression", None)
    opts = ConnectionOptions(**options)
    headers = [
        ("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13"),
    ]
    if offer is not None:
        headers.append(("Sec-WebSocket-Protocol", offer))
    request = build_request(PATH, headers)
    protocol, response = open_handshake(request, opts)
    assert response.status_code == 101, response
    return WebSocket(sock=sock, request=request, protocol=protocol, response=response,
                     options=opts)


class Peer:
    """The client end: websockets' ClientProtocol over a gevent socket.

    ``answer`` False: the protocol's automatic answers (pongs, the close
    reply) are never written, as by a client that ignores pings.
    """

    def __init__(self, sock: Any, *, answer: bool = True) -> None:
        self.sock = sock
        self.answer = answer
        self.protocol = ClientProtocol(parse_uri("ws://127.0.0.1" + PATH), state=State.OPEN,
                                       max_size=None)
        self.head: bytes | None = None
        self._pending = b""
        self.events: list[Any] = []

    # -- sending ----------------------------------------------------------

    def _write(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._write()

    def send_binary(self, data: bytes) -> None:
        self.protocol.send_binary(data)
        self._write()

    def send_ping(self, data: bytes = b"") -> None:
        self.protocol.send_ping(data)
        self._write()

    def send_pong(self, data: bytes = b"") -> None:
        self.protocol.send_pong(data)
        self._write()

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        self.protocol.send_close(code, reason)
        self._write()

    # -- receiving --------------------------------------------------------

    def _read(self, timeout: float) -> bytes:
        with gevent.Timeout(timeout, TimeoutError):
            try:
                return self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError:  # reset by the server
                return b""

    def read_head(self, timeout: float = TIMEOUT) -> bytes:
        """The 101 response head."""
        while self.head is None:
            data = self._read(timeout)
            if not data:
                raise EOFError("closed before the 101")
            self._pending += data
            if b"\r\n\r\n" in self._pending:
                self.head, _, rest = self._pending.partition(b"\r\n\r\n")
                self._pending = b""
                if rest:
                    self._feed(rest)
        return self.head

    def _feed(self, data: bytes) -> None:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self.events.extend(self.protocol.events_received())
        if self.answer:
            try:
                self._write()
            except OSError:
                pass
        else:
            self.protocol.data_to_send()

    def recv_frame(self, timeout: float = TIMEOUT) -> Frame | None:
        """The next frame from the server; None at the end of the connection."""
        self.read_head(timeout)
        while not self.events:
            if self.protocol.state is State.CLOSED:
                return None
            self._feed(self._read(timeout))
        frame: Frame = self.events.pop(0)
        return frame

    def recv(self, timeout: float = TIMEOUT) -> str | bytes | None:
        """The next data message (skipping control frames); None at the end."""
        while True:
            frame = self.recv_frame(timeout)
            if frame is None:
                return None
            if frame.opcode is Opcode.TEXT:
                return frame.data.decode()
            if frame.opcode is Opcode.BINARY:
                return bytes(frame.data)
            if frame.opcode is Opcode.CLOSE:
                return None

    def recv_close(self, timeout: float = TIMEOUT) -> tuple[int, str] | None:
        """Skip to the server's close frame: (code, reason); None on EOF first."""
        while (frame := self.recv_frame(timeout)) is not None:
            if frame.opcode is Opcode.CLOSE:
                close = self.protocol.close_rcvd
                assert close is not None
                return close.code, close.reason
        return None

    def close(self) -> None:
        self.sock.close()


def socket_pair() -> tuple[Any, Any]:
    return gsocket.socketpair()


def serve_view(websocket: WebSocket, sock: Any,
               view: Callable[[WebSocket], Any]) -> gevent.Greenlet[Any, Any]:
    """Run ``view`` on a greenlet and end the connection as the handler does."""

    def run() -> None:
        failed = True
        try:
            view(websocket)
            failed = False
        finally:
            if websocket.accepted and websocket.detached and not failed:
                keeper = sock.makefile("rb", buffering=0)
                sock.close()  # the handler's handle; the keeper holds the fd
                websocket.serve_detached(keeper, on_end=ended_connections.append)
            else:
                if websocket.accepted:
                    websocket.finish(failed=failed)
                sock.close()

    return gevent.spawn(run)


def serve_until_closed(websocket: WebSocket, sock: Any, peer: Peer,
                       view: Callable[[WebSocket], Any]) -> tuple[int, str] | None:
    """serve_view(), and once the view returned, the peer answers the close.

    For views that use the peer themselves: it is read by one greenlet at a
    time. Returns the close code and reason the peer got.
    """
    answer: list[gevent.Greenlet[Any, Any]] = []

    def then_answer(ws: WebSocket) -> None:
        view(ws)
        answer.append(gevent.spawn(peer.recv_close))

    serve_view(websocket, sock, then_answer).get(timeout=TIMEOUT)
    return answer[0].get(timeout=TIMEOUT)


#: What serve_view()'s detached connections passed to on_end (the log line).
ended_connections: list[WebSocket] = []


@dataclass(frozen=True)
class Census:
    """What a connection may leave behind, counted in this process."""

    greenlets: int
    fds: int
    watchers: int
    open_connections: int
    detached: int


def census() -> Census:
    """Count live greenlets (parked burst workers aside), fds, active libev
    watchers and registry entries, once the loop has run what was due."""
    for _ in range(3):
        gevent.sleep(0.01)
    gc.collect()
    hub = gevent.get_hub()
    me = getcurrent()
    parked = set(map(id, bursts._bursts._idle))
    greenlets = sum(
        1 for obj in gc.get_objects()
        # type(), not isinstance(): that would set up Django's lazy objects.
        if issubclass(type(obj), RawGreenlet) and obj is not hub and obj is not me
        and id(obj) not in parked and not obj.dead
    )
    return Census(
        greenlets=greenlets,
        fds=len(os.listdir("/proc/self/fd")),
        watchers=hub.loop.activecnt,
        open_connections=len(core.open_connections),
        detached=len(core.detached_connections),
    )


def _within(after: Census, before: Census) -> bool:
    # At most as many: what an earlier test left may go meanwhile.
    return all(a <= b for a, b in zip(astuple(after), astuple(before), strict=True))


def assert_nothing_left(before: Census, timeout: float = TIMEOUT) -> None:
    """Wait (bounded) until the census is back to ``before``."""
    deadline = time.monotonic() + timeout
    after = census()
    while not _within(after, before) and time.monotonic() < deadline:
        gevent.sleep(0.05)
        after = census()
    assert _within(after, before), f"left behind: before {before}, after {after}"


class FailingBackend(MemoryBackend):
    """The in-memory backend, with a leave() that fails (Redis gone meanwhile)."""

    def leave(self, group: str, websocket: Any) -> None:
        super().leave(group, websocket)
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


FAILING_GROUPS = {"default": {"BACKEND": "tests.support.core.FailingBackend"}}


def wait_until(predicate: Callable[[], Any], timeout: float = TIMEOUT) -> None:
    """Let the loop run until ``predicate()`` is true; fail after ``timeout``."""
    with gevent.Timeout(timeout, AssertionError(f"{predicate} stayed false for {timeout}s")):
        while not predicate():
            gevent.sleep(0.005)



def connection(**options: Any) -> tuple[WebSocket, Any, Peer]:
    """A WebSocket on one end of a socketpair, the peer on the other."""
    server, client = socket_pair()
    return make_websocket(server, **options), server, Peer(client)
