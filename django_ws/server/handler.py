"""The gevent ``pywsgi`` handler that hands upgrade requests to Django.

For a request with ``Upgrade: websocket`` the handshake is checked first: a
malformed one is answered here with a 4xx that says why, without running the
application. A valid one gets a :class:`~django_ws.connection.WebSocket` in
the WSGI environ and runs the application like any request; the 101 is sent
only when the view uses the socket, so until then the view's own HTTP response
(403, 404, ...) goes out as usual. Once upgraded, the application's HTTP
response is discarded, the WebSocket is closed properly and the socket is
never read as HTTP again. A detached WebSocket (a class view's) outlives the
request instead: the handler leaves it the socket and writes its log line when
it ends. No protocol logic lives here.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import pywsgi
from websockets.exceptions import InvalidHeader
from websockets.server import ServerProtocol

from ..conf import settings
from ..connection import WebSocket, counters, open_connections, open_handshake
from ..connection.redaction import (
    REDACTED,
    SENSITIVE_HEADERS,
    redact_requestline,
    redact_target,
)
from ..protocol import build_request
from ..request import ENVIRON_KEY

__all__ = ["WebSocketHandler", "close_idle_connections"]

# The name it always logged under (users configure it in LOGGING).
logger = logging.getLogger("django_ws.handler")

#: Handlers waiting for the first line of a request: idle keep-alive
#: connections (and new ones that have sent nothing yet). Shutdown closes
#: them at once instead of waiting for them (see close_idle_connections).
_awaiting_request: set[WebSocketHandler] = set()
_draining = False


def close_idle_connections() -> int:
    """Start draining: close the connections waiting for a request.

    Called when the server starts shutting down: a browser keeps an idle
    keep-alive connection open for each tab, and waiting for it would hold
    the shutdown until ``WEBSOCKET_HANDSHAKE_TIMEOUT`` for no work at all
    (gunicorn closes them too). A request whose line has arrived is real
    work: it is answered and drained as usual, then its connection closes.
    From now on this process answers new WebSocket handshakes with 503 and
    ``Retry-After`` (a load balancer moves them elsewhere at once), and
    serves no further request on a kept-alive connection.

    Returns:
        How many connections were closed.
    """
    global _draining
    _draining = True
    idle = list(_awaiting_request)
    for handler in idle:
        try:
            # The blocked read returns end-of-file, and pywsgi ends the
            # connection as if the client had closed it.
            handler.socket.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass  # already gone
    return len(idle)


def _discard(data: bytes) -> None:
    """The WSGI ``write()`` of a response that is never sent."""


class _RequestTooSlow(Exception):
    """The client did not send a whole request head in time."""


class WebSocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]  # gevent has no stubs
    """A ``pywsgi.WSGIHandler`` that also serves WebSocket upgrades."""

    socket: Any  # pywsgi's; None once a detached WebSocket took it (_hand_over)
    environ: dict[str, Any]  # pywsgi's, set by handle_one_request()
    websocket: WebSocket | None = None
    _handed_over = False  # a detached WebSocket outlives the request (_hand_over)
    _served = 0  # requests answered on this connection
    _head_timer: gevent.Timeout | None = None

    #: Buffer of the request-head reader. pywsgi's default (8 KiB) stays
    #: allocated for as long as a WebSocket lives; request heads, cookies
    #: included, fit in a few reads of this.
    read_buffer_size = 2048

    #: A response whose first chunk is at most this long goes out in one
    #: write with its headers (see _write_with_headers).
    coalesce_limit = 65536
    #: Turn Nagle's algorithm off on accepted TCP sockets (see __init__).
    tcp_nodelay = True

    def __init__(self, sock: Any, address: Any, server: Any, rfile: Any = None) -> None:
        if rfile is None:
            rfile = sock.makefile("rb", self.read_buffer_size)
        if self.tcp_nodelay and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Nagle's algorithm holds a small write back until the previous
            # one is acknowledged, and the client delays that ACK (~40 ms):
            # a keep-alive response, or a push to a client that sends
            # nothing, would wait for it. Tornado, uvicorn and gunicorn set
            # this too (CPython's http.server does not: python/cpython#108736).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)

    def _write_with_headers(self, data: bytes) -> None:
        # pywsgi sends the head and the first chunk of the body in two
        # writes. With TCP_NODELAY that costs a packet and a syscall; with
        # Nagle it cost a delayed ACK. One write for a small response: the
        # head and the data are collected, then sent together.
        if len(data) > self.coalesce_limit:
            super()._write_with_headers(data)
            return
        parts: list[bytes] = []
        self._sendall = parts.append  # shadows the method for this call only
        try:
            super()._write_with_headers(data)  # the head, then _write(data)
        finally:
            del self._sendall
        self._sendall(b"".join(parts))

    def handle_one_request(self) -> Any:
        # pywsgi bounds each read, not the whole request head: a client that
        # sends a byte a second (slowloris) would hold this greenlet forever.
        # This deadline covers the request line and headers, and an idle
        # keep-alive connection waiting for its next request.
        self._head_timer = gevent.Timeout.start_new(settings.HANDSHAKE_TIMEOUT, _RequestTooSlow)
        try:
            result = super().handle_one_request()
            self._served += 1
            return result
        except _RequestTooSlow:
            logger.info("closed a connection from %s: no complete request within %ss "
                        "(WEBSOCKET_HANDSHAKE_TIMEOUT)", self.client_address,
                        settings.HANDSHAKE_TIMEOUT)
            return None
        finally:
            self._stop_head_timer()

    def MessageClass(self, fp: Any, *args: Any) -> Any:  # noqa: N802  (pywsgi's name)
        # The headers, read through a meter: past WEBSOCKET_MAX_REQUEST_HEAD
        # bytes in all (the request line counts too), or past the 100 lines
        # that http.client allows, the request is refused with 431.
        limit = settings.MAX_REQUEST_HEAD
        if limit is not None:
            fp = _HeadMeter(fp, limit - len(self.requestline))
        try:
            return super().MessageClass(fp, *args)
        except http.client.HTTPException as exc:  # "got more than 100 headers"
            raise _HeadTooLarge(str(exc)) from None

    def _handle_client_error(self, ex: Exception) -> Any:
        if not isinstance(ex, _HeadTooLarge):
            if not isinstance(ex, ValueError | OSError):
                # pywsgi's own parser failing on the client's bytes (an
                # IndexError for "HTTP/2"): still the client's request, and
                # pywsgi would print a traceback for it. Logged, answered 400.
                ex = ValueError(f"unparsable request ({type(ex).__name__}: {ex})")
            return super()._handle_client_error(ex)
        counters.refused(431)
        logger.info("refused a request from %s: 431 %s (WEBSOCKET_MAX_REQUEST_HEAD is %s "
                    "bytes)", self.client_address, ex, settings.MAX_REQUEST_HEAD)
        self._discard_pending_input()
        return ("431", _HEAD_TOO_LARGE_RESPONSE)

    def _discard_pending_input(self, limit: int = 1 << 20) -> None:
        """Read, without waiting, what the client already sent (a lingering close).

        Closing a socket with unread bytes sends an RST, and the client's
        kernel may drop our answer on receiving it before the client read it.
        """
        self.socket.settimeout(0.0)
        try:
            while limit > 0:
                data = self.rfile.read1(min(limit, 65536))
                if not data:
                    break
                limit -= len(data)
        except OSError:  # nothing more there yet (BlockingIOError), or gone
            pass
        finally:
            self.socket.settimeout(None)

    def read_requestline(self) -> str:
        if _draining and self._served:
            return ""  # no new request on a kept-alive connection: pywsgi ends it
        _awaiting_request.add(self)
        try:
            return super().read_requestline()  # type: ignore[no-any-return]
        finally:
            _awaiting_request.discard(self)

    def _stop_head_timer(self) -> None:
        # Dropped, not only stopped: a WebSocket request runs for as long as
        # the connection lives.
        timer, self._head_timer = self._head_timer, None
        if timer is not None:
            timer.close()

    def get_environ(self) -> dict[str, Any]:
        # Called once the request head is parsed: the application's time is
        # not the client's sending time.
        self._stop_head_timer()
        if _draining:
            self.close_connection = True  # answered, then closed: the server is stopping
        return super().get_environ()  # type: ignore[no-any-return]

    def is_websocket_request(self) -> bool:
        # RFC 6455 4.2.1: only the Upgrade header says "this is a WebSocket
        # handshake"; its other requirements are checked by the protocol.
        return "websocket" in self.headers.get("Upgrade", "").lower()

    def run_application(self) -> None:
        """Answer a handshake, run the view, end the connection.

        One function, longer than most, on purpose: its frame stays under a
        WebSocket view for the connection's whole life, and a helper called
        from here would be one more (see django_ws.server.middleware_chain).
        """
        if not self.is_websocket_request():
            super().run_application()
            return
        # Answered or upgraded, the connection never serves another request.
        self.close_connection = True
        try:
            request = build_request(
                self.path,
                self.headers.items(),  # every field line, repeated headers kept apart
                method=self.command,
                protocol=self.request_version,
            )
        except InvalidHeader as exc:
            # RFC 9110 5.5: a control character in a field value (or a line
            # folded into one, which pywsgi joins with one) is invalid: the
            # client's fault, answered 400, never a 500 with a traceback.
            self._send_rejection(ServerProtocol().reject(
                400, f"Failed to open a WebSocket connection: invalid {exc.name} header.\n"
            ), exc)
            return
        options = settings.connection_options()
        protocol, response = open_handshake(request, options)
        if response.status_code == 101 and (
            self.content_length or "chunked" in self.headers.get("Transfer-Encoding", "")
        ):
            # RFC 6455 4.1: the handshake is a GET without a body; bytes
            # after the head would be taken for frames.
            response = protocol.reject(
                400, "Failed to open a WebSocket connection: a handshake has no body.\n"
            )
        if response.status_code == 101:
            response = self._refuse_if_unavailable(protocol, response)
        if response.status_code != 101:
            self._send_rejection(response, protocol.handshake_exc)
            return
        websocket = self.websocket = WebSocket(
            sock=self.socket,
            initial=self._take_buffered(),
            request=request,
            protocol=protocol,
            response=response,
            options=options,
        )
        self.environ[ENVIRON_KEY] = websocket
        # This frame lives as long as the connection: hold nothing it does
        # not need. The WebSocket keeps the handshake until the 101, and the
        # environ has every header: the parsed head goes (about 1.5 KiB),
        # leaving pywsgi's empty class-level one.
        del request, response
        del self.headers
        failed = True
        try:
            self.result = self.application(self.environ, self._start_response)
            if not websocket.accepted:
                self.process_result()  # the view answered in plain HTTP
            failed = False
        finally:
            try:
                close = getattr(self.result, "close", None)
                self.result = None
                if close is not None:
                    close()  # Django's request_finished: closes DB connections
            finally:
                if not websocket.accepted:
                    # The view answered in HTTP (or raised: pywsgi sends 500).
                    counters.refused(getattr(self, "code", None) or 500)
                else:
                    self.status = b"101 Switching Protocols"
                    self._orig_status = "101 Switching Protocols"
                    if websocket.detached and not failed:
                        self._hand_over(websocket)
                    else:
                        websocket.finish(failed=failed)

    def _refuse_if_unavailable(self, protocol: Any, response: Any) -> Any:
        """A 503 with Retry-After instead of the 101 when full or shutting down.

        Before any 101, so a client or a load balancer can go elsewhere and
        come back, instead of a connection opened only to be closed.
        """
        limit = settings.MAX_CONNECTIONS
        if _draining:
            reason = "this server is shutting down"
        elif limit is not None and len(open_connections) >= limit:
            reason = f"this server is at its limit of {limit} connections"
        else:
            return response
        refusal = protocol.reject(
            503, f"Failed to open a WebSocket connection: {reason}; try again later.\n"
        )
        refusal.headers["Retry-After"] = str(settings.RETRY_AFTER)
        return refusal

    def _hand_over(self, websocket: WebSocket) -> None:
        """Let a detached connection outlive this request (WebSocket.detach)."""
        # pywsgi and the server close the socket when the request ends. A
        # file object on it keeps the descriptor open until the connection
        # closes that too (the socket module's documented rule); without
        # self.socket, pywsgi neither drains nor closes it.
        keeper = self.socket.makefile("rb", buffering=0)
        self.socket = None
        self._handed_over = True
        if not getattr(self.server, "access_log", True):
            websocket.serve_detached(keeper)
            return
        self.time_finish = time.time()
        # The HTTP part of the line now, the connection's part at its end.
        head, write = super().format_request(), self._line_writer()

        def log_line(websocket: WebSocket) -> None:
            write(f"{head}{summary(websocket)}")

        websocket.serve_detached(keeper, on_end=log_line)

    def _line_writer(self) -> Callable[[str], None]:
        """How a connection's log line is written; holds nothing of the handler."""
        log = self.server.log
        return lambda line: log.write(line + "\n")

    def _start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
        # After a 101 the view's HTTP response is discarded: pywsgi need not
        # check and encode its headers.
        websocket = self.websocket
        if websocket is not None and websocket.accepted:
            return _discard
        return self.start_response(status, headers, exc_info)

    def _take_buffered(self) -> bytes:
        """Bytes read past the request head (frames a client sent early).

        Read here rather than in the view: without blocking (``read1()``
        would otherwise hold a 64 KiB buffer while the client is silent), at
        a shallow depth of the greenlet's Python stack, whose deepest point
        stays allocated for the connection's life. The reader is closed,
        which frees its buffer; the socket stays open.
        """
        self.socket.settimeout(0.0)
        try:
            data: bytes = self.rfile.read1(65536) or b""
        except OSError:  # nothing buffered, nothing on the socket yet
            data = b""
        finally:
            self.socket.settimeout(None)
            self.rfile.close()
        return data

    def _send_rejection(self, response: Any, reason: Exception | None) -> None:
        self.status = f"{response.status_code} {response.reason_phrase}".encode("latin-1")
        self._orig_status = self.status.decode("latin-1")
        self.code = response.status_code
        counters.refused(response.status_code)
        if isinstance(reason, InvalidHeader) and reason.name.lower() in SENSITIVE_HEADERS:
            cause = f"invalid {reason.name} header: {REDACTED}"  # may hold a token
        else:
            cause = str(reason or response.body.decode(errors="replace").strip())
        # %r: the path and the reason hold the client's bytes (an ESC
        # sequence must not reach a terminal that shows the log).
        logger.info("WebSocket handshake refused for %r: %s %s (%r)", redact_target(self.path),
                    response.status_code, response.reason_phrase, cause)
        data = response.serialize()
        self.socket.sendall(data)
        self.response_length = len(data)

    def log_request(self) -> None:
        # pywsgi formats the line even for a server without an access log. A
        # detached connection's line is written when it ends (_hand_over).
        if getattr(self.server, "access_log", True) and not self._handed_over:
            super().log_request()

    def format_request(self) -> str:
        line: str = super().format_request()
        requestline = self.requestline
        if requestline and "?" in requestline:  # a token in the query stays out of the log
            redacted = redact_requestline(requestline)
            line = line.replace(requestline, redacted, 1)
            requestline = redacted
        if requestline and not requestline.isprintable():
            # The client's bytes, escaped: an ESC sequence must not reach the
            # terminal of whoever reads the log (Django's CVE-2025-48432).
            line = line.replace(requestline, requestline.encode("unicode_escape").decode(), 1)
        websocket = self.websocket
        if websocket is None:
            return line
        return line + summary(websocket)


class _HeadTooLarge(ValueError):
    """A request head past WEBSOCKET_MAX_REQUEST_HEAD (RFC 6585 5: 431)."""


_HEAD_TOO_LARGE_BODY = b"Request header fields too large (WEBSOCKET_MAX_REQUEST_HEAD).\n"
_HEAD_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Type: text/plain\r\nContent-Length: "
    + str(len(_HEAD_TOO_LARGE_BODY)).encode() + b"\r\n\r\n" + _HEAD_TOO_LARGE_BODY
)


class _HeadMeter:
    """The request's reader, as http.client.parse_headers reads it, counting bytes."""

    __slots__ = ("_fp", "_left")

    def __init__(self, fp: Any, limit: int) -> None:
        self._fp = fp
        self._left = limit

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._fp.readline(size)
        self._left -= len(line)
        if self._left < 0:
            raise _HeadTooLarge("the request head is too large")
        return line


def summary(websocket: WebSocket) -> str:
    """The end of a WebSocket request's log line: how it lived, how it ended."""
    if websocket.opened_at is None:
        return " websocket refused"  # the view answered in HTTP
    who = {True: "client", False: "server", None: "-"}[websocket.closed_by_client]
    return (
        f" websocket {time.monotonic() - websocket.opened_at:.3f}s "
        f"user={websocket.user_label} close={websocket.close_code} by={who} "
        f"in={websocket.messages_in} out={websocket.messages_out}"
    )
