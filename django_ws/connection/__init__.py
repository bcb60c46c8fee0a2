"""The WebSocket connection: what ``request.websocket`` is.

This is the only blocking code in django_ws. It needs no Django settings:
it takes a :class:`~django_ws.options.ConnectionOptions` (the Django layer,
:mod:`django_ws.server.handler` and :mod:`django_ws.dispatch`, builds them from
the settings), so it runs, and is tested, over a ``socket.socketpair()``.

One connection is one object, :class:`WebSocket` (``websocket.py``: the
public API and the connection's life), holding an object for each job that
has its own state, one module each:

==================  ========================================================
``link.py``         ``Link``: the socket and its peer, whether it failed, who
                    started the close; describing and dropping it
``reading.py``      ``Reader``: the view's inline reads, the background
                    hand-over, the counts of what came in
``writing.py``      ``Writer``: one non-blocking write, pending output,
                    flushing, the counts of what went out
``keepalive.py``    ``Keepalive``: ping after silence, fail after no answer
``ratelimit.py``    ``MessageRate``: the token bucket; read more slowly, or
                    close with 1008
``holding.py``      ``HeldClose``: the close frame held while the view takes
                    valid messages
``handshake.py``    ``Handshake``: what the request offered, the 101's bytes
``detached.py``     ``DetachedServing``: callbacks instead of a waiting view
``inbox.py``        ``Inbox``: the received messages not read yet
``memberships.py``  the groups it joined, and the backends that serve them
==================  ========================================================

The parts hold the link (``link.py``: the socket, whether it failed, who
started the close), not the connection: an ended connection is freed with
its last reference, not by the cyclic GC. Beside
them: ``registry.py`` (the open connections of the process, and what
shutdown does with them), ``bursts.py`` (greenlets lent to detached
connections), ``counters.py`` (the process's counts, which every layer of
django_ws adds to) and ``redaction.py`` (secrets out of log lines, with the
names ``django_ws.conf`` passes in).

A message in: the view's ``wait()`` (``websocket.py``) calls
``Reader.next_message`` (``reading.py``), which takes it from the inbox, or
reads: ``_receive`` gets bytes from ``_recv`` (the socket), feeds the
sans-I/O protocol (:mod:`django_ws.protocol`), queues each complete message
in the inbox, and has the writer flush what the protocol answers (a pong, a
close frame; held, see ``holding.py``, when valid messages came before an
error). A view that
stays busy gets a background reader that does the same into the inbox;
a detached connection's reads are done by a burst (``detached.py``) that
hands each message to ``on_message``.

A message out: ``send()`` encodes it (:mod:`django_ws.encoding`);
``Writer.send`` (``writing.py``) frames it and writes it with ``write_now``
when nothing else is pending; what the socket does not take is queued in
order and flushed under the write lock, waiting up to the send timeout. A group broadcast
(:mod:`django_ws.groups`) calls ``deliver()``, which never waits: it writes
what the socket takes now and leaves the rest to a background flusher, or
drops a client too slow to keep up.
"""

from ..encoding import encode_message
from ..exceptions import ConnectionClosed as ConnectionClosed  # as before the split
from .detached import MessageHandler
from .handshake import open_handshake
from .inbox import Inbox
from .registry import close_open_connections, open_connections, wait_for_detached
from .websocket import WebSocket

__all__ = [
    "Inbox", "MessageHandler", "WebSocket", "close_open_connections", "encode_message",
    "open_connections", "open_handshake", "wait_for_detached",
]
