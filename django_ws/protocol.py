"""The WebSocket protocol, without I/O: bytes in, messages out, bytes to send.

Framing, masking, the handshake checks and permessage-deflate are the
websockets library's sans-I/O :class:`~websockets.server.ServerProtocol`.
This module adds what that core leaves to its callers (it delivers frames,
not messages): assembling fragmented messages and validating their UTF-8,
failing fast on the first bad fragment, and even on the first bad bytes of a
text frame whose end has not arrived yet (the websockets parser only hands
over complete frames). It never touches a socket, gevent or Django, so it is
tested by feeding it raw bytes.
"""

from __future__ import annotations

import codecs
import http
import logging
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from types import GeneratorType
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader, InvalidProtocol, ProtocolError
from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

# Private (django_ws/internals.py): the masking function websockets.frames
# uses, chosen the same way: C when websockets' speedups are built.
try:
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask as _apply_mask

__all__ = [
    "FrameBudget",
    "FrameBudgetExceeded",
    "Message",
    "WebSocketProtocol",
    "build_request",
    "compression_extensions",
]

logger = logging.getLogger(__name__)

#: A complete message: ``str`` for a text message, ``bytes`` for a binary one.
Message = str | bytes

_TEXT, _BINARY, _CONT, _CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE
_PING, _PONG = Opcode.PING, Opcode.PONG
_new_utf8_decoder = codecs.getincrementaldecoder("utf-8")

# RFC 6455 5.2: the first byte of an unfragmented text or binary frame (FIN
# and the opcode), then the payload length in 7, 7+16 or 7+64 bits; a
# server's frames are not masked.
_FIN_TEXT, _FIN_BINARY = 0x80 | _TEXT, 0x80 | _BINARY
_pack_head = struct.Struct("!BB").pack
_pack_head16 = struct.Struct("!BBH").pack
_pack_head64 = struct.Struct("!BBQ").pack

# The code of websockets' frame parser, to recognise it among the generators
# the protocol's parser is suspended in (see _check_partial_text).
_FRAME_PARSE_CODE = getattr(Frame.parse, "__code__", None)

# RFC 6455 4.1: the only version of the protocol; 4.2.2 says a server that
# gets another one answers 426 with the versions it speaks.
SUPPORTED_VERSION = "13"


def build_request(path: str, headers: Iterable[tuple[str, str]], *,
                  method: str = "GET", protocol: str = "HTTP/1.1") -> Request:
    """Build the websockets handshake :class:`Request` from a parsed HTTP request.

    Args:
        path: the request target, with its query string.
        headers: the request's header fields as (name, value) pairs, one pair
            per field line, so that a repeated header stays visible (the WSGI
            environ would have joined them with commas).
        method: the request method; RFC 6455 4.1 requires GET.
        protocol: the HTTP version, e.g. ``"HTTP/1.1"``.
    """
    return Request(path, Headers(headers), method=method, protocol=protocol)


def compression_extensions(
    compression: Mapping[str, Any] | None,
) -> list[ServerExtensionFactory]:
    """The extension factories for a ``WEBSOCKET_COMPRESSION`` value.

    Args:
        compression: keyword arguments for websockets'
            ``ServerPerMessageDeflateFactory`` (RFC 7692 parameters), or None
            to offer no compression.
    """
    if compression is None:
        return []
    return [ServerPerMessageDeflateFactory(**compression)]


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a client offers in ``Sec-WebSocket-Protocol`` (RFC 6455 4.1)."""
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(parse_subprotocol(value))
    return offered


class FrameBudgetExceeded(ProtocolError):
    """A client sent more frames that make no message than its budget allows.

    The protocol already failed the connection with 1008 (policy violation,
    RFC 6455 7.4.1) when this is raised: websockets' parser then ends as for
    any protocol error, without a second close frame. ``reason`` is one of
    :data:`FrameBudget.REASONS`, a bounded label for the metrics.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        #: Set by the connection once it logged and counted this.
        self.reported = False


class FrameBudget:
    """What a client may send that makes no message, per connection.

    Frames cost the server the same to parse whether or not they carry
    anything; a stream of empty fragments (opcode 0, FIN 0, no payload) or of
    pings makes no message, so neither ``max_message_size`` nor the message
    rate bounds it, and the reader parses for ever. Two budgets that no
    honest client meets (browsers never fragment nor ping on their own):

    - ``max_fragments``: frames of one message (a message of 1 MiB in 4 KiB
      fragments is 256);
    - ``max_control_frames``: pings and pongs per second on average, and as
      many at once (a token bucket).

    Past either, the connection is failed with 1008.
    """

    __slots__ = ("_control_at", "_control_tokens", "max_control_frames", "max_fragments")

    REASONS = ("fragments", "control_frames")

    def __init__(self, *, max_fragments: int | None, max_control_frames: int | None) -> None:
        self.max_fragments = max_fragments
        self.max_control_frames = max_control_frames
        self._control_tokens = float(max_control_frames or 0)
        self._control_at = 0.0

    def control_frame(self) -> str | None:
        """Count a ping or a pong; the reason to fail the connection, if past the budget."""
        rate = self.max_control_frames
        if rate is None:
            return None
        now = time.monotonic()
        tokens = min(float(rate), self._control_tokens + (now - self._control_at) * rate)
        self._control_at = now
        if tokens < 1.0:
            self._control_tokens = tokens
            return f"more than {rate} pings and pongs per second (WEBSOCKET_MAX_CONTROL_FRAMES)"
        self._control_tokens = tokens - 1.0
        return None

    def fragments(self, count: int) -> str | None:
        """The reason to fail the connection if a message reached ``count`` frames."""
        limit = self.max_fragments
        if limit is None or count <= limit:
            return None
        return f"a message in more than {limit} fragments (WEBSOCKET_MAX_FRAGMENTS)"


class WebSocketProtocol(ServerProtocol):
    """websockets' server protocol, delivering whole messages.

    :meth:`events_received` returns, in order, ``str`` and ``bytes`` for
    complete messages and :class:`~websockets.frames.Frame` objects for
    control frames (ping, pong, close), which the connection layer uses for
    keepalive and closing.

    The subprotocol is chosen by the view, after the handshake was checked:
    :meth:`accept` negotiates none, and the connection layer sets the chosen
    one on the response.
    """

    def __init__(self, *, budget: FrameBudget | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # One attribute, not three: past 30 attributes an instance no longer
        # shares its dict's keys and its __dict__ grows from 0.3 to 1.6 KiB.
        self._fragments: _Fragments | None = None
        # The text frame whose payload is arriving in pieces, while it does.
        self._partial: _PartialText | None = None
        #: What the client may send that makes no message (None: no limit).
        self.budget = budget

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        return None  # the view chooses (see the class doc)

    def accept(self, request: Request) -> Response:
        response = super().accept(request)
        exc = self.handshake_exc
        if isinstance(exc, InvalidHeader) and exc.name == "Sec-WebSocket-Version":
            # RFC 6455 4.2.2 item 4 asks for 426 with the supported version,
            # where websockets answers a plain 400.
            response = self.reject(
                http.HTTPStatus.UPGRADE_REQUIRED,
                f"Failed to open a WebSocket connection: {exc}; "
                f"this server speaks version {SUPPORTED_VERSION}.\n",
            )
            response.headers["Sec-WebSocket-Version"] = SUPPORTED_VERSION
        elif isinstance(exc, InvalidProtocol):
            # RFC 6455 4.2.1 requires HTTP/1.1 and suggests 400 for any bad
            # handshake; websockets answers 505, which proxies may retry.
            response = self.reject(
                http.HTTPStatus.BAD_REQUEST,
                f"Failed to open a WebSocket connection: {exc}; HTTP/1.1 is required.\n",
            )
        return response

    def frame_head(self, length: int, *, text: bool) -> bytes | None:
        """The header of an unfragmented data frame of ``length`` bytes, or None.

        The payload follows it unchanged: a server does not mask (RFC 6455
        5.1). ``head + payload`` is what ``send_text()`` or ``send_binary()``
        then ``data_to_send()`` would give, without building and checking a
        :class:`~websockets.frames.Frame` (about 0.6 µs less per message, a
        twentieth of django_ws's CPU per echoed message), and the caller can
        write a large payload beside its header instead of copying it.
        Nothing is queued: the caller writes the frame.

        Returns:
            None where websockets must frame the message itself: an
            extension (compression) is active, its debug logging is on, a
            fragmented message is being sent, or the connection is not open
            (``send_text()`` raises the right error).
        """
        if (self.state is not OPEN or self.extensions or self.debug
                or self.expect_continuation_frame):
            return None
        first = _FIN_TEXT if text else _FIN_BINARY
        if length < 126:
            return _pack_head(first, length)
        if length < 65536:
            return _pack_head16(first, 126, length)
        return _pack_head64(first, 127, length)

    def receive_data(self, data: bytes | bytearray) -> None:
        # websockets' receive_data() is these two lines (django_ws/internals.py
        # checks it still is): written here, this costs an echoed message
        # about 40 ns of CPU, where calling it through super() costs 200.
        reader = self.reader
        reader.feed_data(data)
        next(self.parser)
        # The parser consumed every complete frame: bytes left in its buffer
        # are the start of a frame still arriving. Only then is there work
        # to do (a large frame in pieces); an echo of small messages pays
        # for this test and nothing more.
        if reader.buffer:
            if self.state is OPEN and not self.extensions:
                self._check_partial_text()
        elif self._partial is not None:
            self._partial = None

    def _check_partial_text(self) -> None:
        """Fail at once (1007) on invalid UTF-8 in a text frame not yet complete.

        RFC 6455 8.1: an endpoint that receives invalid UTF-8 in a text
        message fails the connection; Autobahn 6.4.3 and 6.4.4 check that it
        does so as soon as the bad bytes arrive ("fail fast"). websockets'
        parser hands over a frame only when its whole payload is read, so
        this looks into it while it waits: its frame parser's header fields
        and the payload bytes already in its buffer, which it leaves there
        until the frame is complete. Each byte is checked once, by an
        incremental decoder that continues from the message's earlier
        fragments; the frame is decoded again when complete, as any other.

        Skipped while compression is on (the payload is deflated until the
        frame is complete) and for frames that will fail otherwise (reserved
        bits, a new message inside a fragmented one): their close code stays
        websockets' own. If a websockets release parses differently, nothing
        is found and invalid text fails when its frame completes, as before
        (tests/unit/test_third_party_internals.py says so).

        Private internals (django_ws/internals.py): ``Protocol.reader``,
        ``Protocol.parser``, the local variables of ``Frame.parse()``,
        ``Protocol.parser_exc``, websockets' ``apply_mask``.
        """
        frame_parser = _frame_parser(self.parser)
        if frame_parser is None or frame_parser.gi_frame is None:
            return
        fields = frame_parser.gi_frame.f_locals
        mask = fields.get("mask_bytes")
        if mask is None:
            return  # still in the header: no payload byte yet
        partial = self._partial
        if partial is None or partial.frame_parser is not frame_parser:
            partial = self._partial = None  # a new frame
            if fields["rsv1"] or fields["rsv2"] or fields["rsv3"]:
                return
            opcode, fragments = fields["opcode"], self._fragments
            decoder: codecs.IncrementalDecoder
            if opcode is _TEXT and fragments is None:
                decoder = _new_utf8_decoder()
            elif opcode is _CONT and fragments is not None and fragments.decoder is not None:
                decoder = _new_utf8_decoder()
                decoder.setstate(fragments.decoder.getstate())
            else:
                return  # binary, a control frame, or a frame recv_frame() refuses
            partial = self._partial = _PartialText(frame_parser, decoder)
        buffer = self.reader.buffer
        checked = partial.checked
        if len(buffer) <= checked:
            return
        # RFC 6455 5.3: byte i of the payload is masked with mask[i % 4].
        turn = checked % 4
        data = _apply_mask(bytes(buffer[checked:]), mask[turn:] + mask[:turn])
        decoder = partial.decoder
        pending = len(decoder.getstate()[0])  # the start of a character split by a read
        try:
            decoder.decode(data)
        except UnicodeDecodeError as exc:
            self._partial = None
            # The position in the frame's payload, as websockets reports it
            # (before it, when the bad sequence began in an earlier fragment).
            position = max(checked - pending + exc.start, 0)
            self.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {position}")
            # As parse() does for the errors it catches: the cause of the
            # ConnectionClosed that the connection layer raises.
            self.parser_exc = exc
            return
        partial.checked = len(buffer)

    def recv_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if (opcode is _PING or opcode is _PONG) and self.budget is not None:
            self._spend(self.budget.control_frame(), "control_frames")
        if opcode is _CLOSE and self.current_size is not None:
            # RFC 6455 5.4 allows control frames between the fragments of a
            # message, and 5.5.1 lets the peer close at any time; websockets
            # fails this case with 1002. Drop the unfinished message and let
            # the close be answered normally (Autobahn case 7.1.5).
            self.current_size = None
            self._fragments = None
        super().recv_frame(frame)
        if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
            # super() appended the frame; a data frame is replaced by the
            # message it completes, or by nothing while a message is partial.
            self.events.pop()
            message = self._assemble(frame)
            if message is not None:
                self.events.append(message)  # type: ignore[arg-type]  # see the class doc

    def _assemble(self, frame: Frame) -> Message | None:
        # super().recv_frame() already rejected a continuation without a
        # start and a new message inside a fragmented one (RFC 6455 5.4), and
        # enforced max_size, so only UTF-8 remains to check. A decoding
        # error propagates to websockets' parser, which fails the connection
        # with 1007 (RFC 6455 8.1) before reading any further frame.
        opcode = frame.opcode
        if opcode is not _CONT:
            if frame.fin:  # the common case: a message in one frame
                return bytes(frame.data).decode() if opcode is _TEXT else bytes(frame.data)
            self._fragments = _Fragments(frame.data, text=opcode is _TEXT)
            return None
        fragments = self._fragments
        assert fragments is not None  # see above
        fragments.add(frame.data, final=frame.fin)
        if self.budget is not None:
            self._spend(self.budget.fragments(fragments.count), "fragments")
        if not frame.fin:
            return None
        self._fragments = None
        return fragments.message()

    def _spend(self, failure: str | None, reason: str) -> None:
        """Fail the connection with 1008 if a budget says so (see FrameBudget)."""
        if failure is None:
            return
        self._fragments = None  # the message will never complete: free it now
        self.fail(CloseCode.POLICY_VIOLATION, failure)
        # websockets' parser catches this as any ProtocolError: it stops
        # reading, and fail() sends no second close frame (no longer OPEN).
        raise FrameBudgetExceeded(failure, reason)


class _Fragments:
    """A fragmented message being assembled.

    Fragments go into one bytearray: its size is bounded by max_size whatever
    the number of fragments (a list of a million one-byte fragments would not
    be). Text is validated fragment by fragment by an incremental decoder,
    then decoded once when complete.
    """

    __slots__ = ("buffer", "count", "decoder")

    def __init__(self, data: bytes | bytearray | memoryview, *, text: bool) -> None:
        self.buffer = bytearray(data)
        self.count = 1  # frames so far (see FrameBudget)
        self.decoder = _new_utf8_decoder() if text else None
        if self.decoder is not None:
            self.decoder.decode(data)

    def add(self, data: bytes | bytearray | memoryview, *, final: bool) -> None:
        self.count += 1
        self.buffer += data
        if self.decoder is not None:
            self.decoder.decode(data, final)

    def message(self) -> Message:
        return self.buffer.decode() if self.decoder is not None else bytes(self.buffer)


def _frame_parser(parser: object) -> GeneratorType[Any, Any, Any] | None:
    """websockets' frame parser that ``parser`` is suspended in, if any.

    Private (django_ws/internals.py): ``Protocol.parser`` is
    ``ServerProtocol.parse()``, which after the handshake delegates to
    ``Protocol.parse()`` with ``yield from``, which delegates each frame to
    ``Frame.parse()``, itself waiting in ``reader.read_exact()``. None after
    a close (``discard()`` replaced them) or if a release nests differently.
    """
    generator = parser
    for _ in range(4):  # the depth above, with room for one more level
        if not isinstance(generator, GeneratorType):
            return None
        if generator.gi_code is _FRAME_PARSE_CODE:
            return generator
        generator = generator.gi_yieldfrom
    return None


class _PartialText:
    """How far the payload of a text frame still arriving was validated."""

    __slots__ = ("checked", "decoder", "frame_parser")

    def __init__(
        self, frame_parser: GeneratorType[Any, Any, Any], decoder: codecs.IncrementalDecoder
    ) -> None:
        #: websockets' parser of this frame: a later read continues it.
        self.frame_parser = frame_parser
        self.decoder = decoder
        #: Payload bytes validated so far (they lead the reader's buffer).
        self.checked = 0
