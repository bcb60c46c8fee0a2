"""The WebSocket connection: what ``request.websocket`` is.

This is the only blocking code in django_ws. It needs no Django settings:
it takes a :class:`~django_ws.options.ConnectionOptions` (the Django layer,
:mod:`django_ws.server.handler` and :mod:`django_ws.dispatch`, builds them from
the settings), so it runs, and is tested, over a ``socket.socketpair()``.

One connection is one object, :class:`WebSocket`, built as a stack of
layers, one module and one job each; a layer uses only those below it:

=================  =========================================================
``websocket.py``   the public API: ``wait``, ``read``, ``send``, iteration,
                   ``join`` (:mod:`django_ws.encoding` makes the payload)
``detached.py``    callbacks instead of a waiting view (``WebSocketView``)
``closing.py``     ``close()``, and ``finish()``, which always runs to its end
``handshake.py``   checking the request, negotiating, writing the 101
``reading.py``     the view's inline reads, the background hand-over
``ratelimit.py``   the message rate limit: read more slowly, or close 1008
``keepalive.py``   ping after silence, fail after no answer
``holding.py``     the close frame held while the view takes valid messages
``writing.py``     one non-blocking write primitive, pending output, flushing
``base.py``        the shared state; describing, losing, dropping
=================  =========================================================

Beside them: ``inbox.py`` (the received messages not read yet),
``registry.py`` (the open connections of the process, and what shutdown
does with them), ``counters.py`` (the process's counts, which every layer of
django_ws adds to) and ``redaction.py`` (secrets out of log lines, with the
names ``django_ws.conf`` passes in). Layers rather than helper objects: a message's path stays
a chain of method calls on one object, with no attribute hop per message,
and the frames on the stack while a view blocks (kept for the connection's
life) are the same three as in one class.

A message in: the view's ``wait()`` (``websocket.py``) calls
``_next_message`` (``reading.py``), which takes it from the inbox, or reads:
``_receive`` gets bytes from ``_recv`` (the socket), feeds the sans-I/O
protocol (:mod:`django_ws.protocol`), queues each complete message in the
inbox, and flushes what the protocol answers (a pong, a close frame; held
by ``holding.py`` when valid messages came before an error). A view that
stays busy gets a background reader that does the same into the inbox;
a detached connection's reads are done by a burst (``detached.py``) that
hands each message to ``on_message``.

A message out: ``send()`` encodes it (:mod:`django_ws.encoding`), frames it, and
writes it with ``_write_now`` (``writing.py``) when nothing else is
pending; what the socket does not take is queued in order and flushed under
the write lock, waiting up to the send timeout. A group broadcast
(:mod:`django_ws.groups`) calls ``deliver()``, which never waits: it writes
what the socket takes now and leaves the rest to a background flusher, or
drops a client too slow to keep up.
"""

from ..encoding import encode_message
from ..exceptions import ConnectionClosed as ConnectionClosed  # as before the split
from .base import MessageHandler
from .handshake import open_handshake
from .holding import _HOLD_FOR as _HOLD_FOR  # for the core's tests
from .inbox import Inbox
from .reading import _BUSY_AFTER as _BUSY_AFTER  # for the core's tests
from .registry import close_open_connections, open_connections, wait_for_detached
from .websocket import WebSocket

__all__ = [
    "Inbox", "MessageHandler", "WebSocket", "close_open_connections", "encode_message",
    "open_connections", "open_handshake", "wait_for_detached",
]
# _BUSY_AFTER and _HOLD_FOR stay importable from here for the core's tests.
