"""The private internals of other libraries that django_ws relies on, in one place.

django_ws uses a few undocumented parts of the websockets library's sans-I/O
core, of gevent, gunicorn, prometheus_client and redis-py, each for a
measured reason given where it is used. Nothing promises that they stay: a
new release may rename or drop one. So each is listed here with where it is
used, ``pyproject.toml`` bounds the websockets library below its next major
version, and ``tests/unit/test_third_party_internals.py`` runs :func:`missing_internals` so
that an installed version that changed one fails loudly, naming it, instead
of breaking connections at run time.

This module imports gevent, gunicorn, prometheus_client and redis only inside
:func:`missing_internals`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["INTERNALS", "Internal", "missing_internals"]


@dataclass(frozen=True)
class Internal:
    """One private name of another library that django_ws uses."""

    #: The library's distribution name.
    library: str
    #: The dotted name, e.g. ``websockets.protocol.Protocol.events``.
    name: str
    #: Where django_ws uses it, and why.
    used_for: str
    #: True while the installed library still has it as django_ws uses it.
    present: Callable[[], bool]


def _protocol_attribute(name: str) -> Callable[[], bool]:
    def present() -> bool:
        from websockets.server import ServerProtocol

        return hasattr(ServerProtocol(), name)

    return present


def _resolve(qualified: str) -> Any:
    """The object named ``module:dotted.name``."""
    import importlib

    module_name, _, object_name = qualified.partition(":")
    target = importlib.import_module(module_name)
    for part in object_name.split("."):
        target = getattr(target, part)
    return target


def _in_source(qualified: str, needle: str) -> Callable[[], bool]:
    """True while the source of ``module:object`` contains ``needle``."""

    def present() -> bool:
        return needle in inspect.getsource(_resolve(qualified))

    return present


def _code_names(qualified: str, names: tuple[str, ...]) -> Callable[[], bool]:
    """True while ``module:function`` uses exactly these global and attribute names."""

    def present() -> bool:
        return tuple(_resolve(qualified).__code__.co_names) == names

    return present


def _frame_parse_locals(*names: str) -> Callable[[], bool]:
    """True while websockets' ``Frame.parse`` has these local variables."""

    def present() -> bool:
        return set(names) <= set(_resolve("websockets.frames:Frame.parse").__code__.co_varnames)

    return present


def _all(*checks: Callable[[], bool]) -> Callable[[], bool]:
    def present() -> bool:
        return all(check() for check in checks)

    return present


def _gevent_socket_attribute(name: str) -> Callable[[], bool]:
    def present() -> bool:
        from gevent import socket

        sock = socket.socket()
        try:
            return hasattr(sock, name)
        finally:
            sock.close()

    return present


def _module_attribute(module_name: str, name: str) -> Callable[[], bool]:
    def present() -> bool:
        import importlib

        return hasattr(importlib.import_module(module_name), name)

    return present


def _class_attribute(qualified: str, name: str) -> Callable[[], bool]:
    def present() -> bool:
        import importlib

        module_name, _, class_name = qualified.partition(":")
        return hasattr(getattr(importlib.import_module(module_name), class_name), name)

    return present


INTERNALS: tuple[Internal, ...] = (
    Internal("websockets", "websockets.protocol.Protocol.recv_frame",
             "protocol.py overrides it to assemble fragments and validate UTF-8 "
             "ourselves; the parser must call it for every frame",
             _in_source("websockets.protocol:Protocol.parse", "self.recv_frame(")),
    Internal("websockets", "websockets.protocol.Protocol.events",
             "protocol.py replaces each data frame event by the message it completes",
             _protocol_attribute("events")),
    Internal("websockets", "websockets.protocol.Protocol.writes",
             "connection/reading.py checks for pending output without taking it",
             _protocol_attribute("writes")),
    Internal("websockets", "websockets.protocol.Protocol.current_size",
             "protocol.py drops an unfinished message when a close frame arrives "
             "between its fragments (Autobahn 7.1.5)",
             _protocol_attribute("current_size")),
    Internal("websockets", "websockets.protocol.Protocol.expect_continuation_frame",
             "protocol.py frames unfragmented messages itself only outside a "
             "fragmented send",
             _protocol_attribute("expect_continuation_frame")),
    Internal("websockets", "websockets.protocol.Protocol.debug",
             "protocol.py leaves framing to websockets while its debug log is on",
             _protocol_attribute("debug")),
    Internal("websockets", "websockets.protocol.Protocol.max_message_size",
             "connection/handshake.py applies a view's own max_message_size before the 101",
             _protocol_attribute("max_message_size")),
    Internal("websockets", "websockets.server.ServerProtocol.available_extensions",
             "connection/handshake.py applies a view's own compression before the 101",
             _protocol_attribute("available_extensions")),
    Internal("websockets", "websockets.protocol.Protocol.receive_data",
             "protocol.py's override does what it does, feed the reader then step the "
             "parser, without the cost of a super() call on every read",
             _code_names("websockets.protocol:Protocol.receive_data",
                         ("reader", "feed_data", "next", "parser"))),
    Internal("websockets", "websockets.protocol.Protocol.reader",
             "protocol.py validates the UTF-8 of a text frame still arriving (Autobahn "
             "6.4.3, 6.4.4): its payload waits in reader.buffer, which read_exact() "
             "empties only once the whole frame is there",
             _all(_in_source("websockets.protocol:Protocol.__init__",
                             "self.reader = StreamReader()"),
                  _in_source("websockets.streams:StreamReader.read_exact",
                             "while len(self.buffer) < n:"))),
    Internal("websockets", "websockets.protocol.Protocol.parser",
             "the same: protocol.py follows this generator down to the Frame.parse() "
             "it is suspended in (ServerProtocol.parse -> Protocol.parse -> Frame.parse)",
             _all(_in_source("websockets.server:ServerProtocol.parse",
                             "yield from super().parse()"),
                  _in_source("websockets.protocol:Protocol.parse",
                             "yield from Frame.parse("))),
    Internal("websockets", "websockets.frames.Frame.parse",
             "the same: protocol.py reads the local variables of the frame being parsed "
             "(opcode, rsv1-3, mask_bytes), bound before its payload is read, last",
             _all(_frame_parse_locals("opcode", "rsv1", "rsv2", "rsv3", "mask_bytes"),
                  _in_source("websockets.frames:Frame.parse",
                             "mask_bytes = yield from read_exact(4)"),
                  _in_source("websockets.frames:Frame.parse",
                             "data = yield from read_exact(length)"))),
    Internal("websockets", "websockets.utils.apply_mask",
             "the same: protocol.py unmasks the partial payload with the function "
             "websockets.frames uses (websockets.speedups' C one when built)",
             _module_attribute("websockets.utils", "apply_mask")),
    Internal("websockets", "websockets.protocol.Protocol.parser_exc",
             "the same: protocol.py sets the UnicodeDecodeError as the cause of the "
             "close, as parse() does for the errors it catches",
             _protocol_attribute("parser_exc")),
    Internal("gevent", "gevent.socket.socket._sock",
             "connection/writing.py and reading.py use the non-blocking stdlib socket directly "
             "on the per-message paths (no failed-read round trip through gevent)",
             _gevent_socket_attribute("_sock")),
    Internal("gevent", "gevent.socket.socket._wait",
             "connection/reading.py waits for readability on gevent's own watcher",
             _gevent_socket_attribute("_wait")),
    Internal("gevent", "gevent.socket.socket._read_event",
             "connection/reading.py waits for readability on gevent's own watcher",
             _gevent_socket_attribute("_read_event")),
    Internal("gevent", "gevent.pywsgi.WSGIHandler._orig_status",
             "server/handler.py sets the status pywsgi logs for a 101 it did not send",
             _class_attribute("gevent.pywsgi:WSGIHandler", "_orig_status")),
    Internal("gevent", "gevent.pywsgi.WSGIHandler._write_with_headers",
             "server/handler.py sends a small response's head and body in one write; it "
             "collects what this method passes to self._sendall(), head then body",
             _in_source("gevent.pywsgi:WSGIHandler._write_with_headers", "self._sendall(")),
    Internal("gevent", "gevent.pywsgi.WSGIHandler._write",
             "the body half of the above: it must write through self._sendall()",
             _in_source("gevent.pywsgi:WSGIHandler._write", "self._sendall(")),
    Internal("gevent", "gevent.pywsgi.WSGIHandler._handle_client_error",
             "server/handler.py answers a request head past WEBSOCKET_MAX_REQUEST_HEAD with 431: "
             "pywsgi sends the (status, bytes) this hook returns for a ValueError",
             _in_source("gevent.pywsgi:WSGIHandler.handle_one_request",
                        "return self._handle_client_error(ex)")),
    Internal("gevent", "gevent.pywsgi.WSGIHandler.MessageClass",
             "server/handler.py reads the headers through a byte meter (the reader this "
             "method is given)",
             _in_source("gevent.pywsgi:WSGIHandler.read_request",
                        "self.headers = self.MessageClass(self.rfile, 0)")),
    Internal("prometheus_client", "prometheus_client.Histogram._buckets",
             "metrics/multiprocess.py copies per-bucket counts (not cumulative, +Inf "
             "last) into them: observe() takes one value at a time",
             _in_source("prometheus_client:Histogram.observe", "self._buckets[i].inc(")),
    Internal("prometheus_client", "prometheus_client.Histogram._sum",
             "metrics/multiprocess.py adds the sum of the copied observations",
             _in_source("prometheus_client:Histogram.observe", "self._sum.inc(")),
    Internal("redis", "redis.cluster.ClusterPubSub.node_pubsub_mapping",
             "groups/redis_listener.py watches each shard's pub/sub socket, and tells "
             "whether a shard's connection is down (cluster only)",
             _in_source("redis.cluster:ClusterPubSub.__init__", "self.node_pubsub_mapping")),
    Internal("redis", "redis.connection.AbstractConnection._sock",
             "groups/redis_listener.py waits for the pub/sub socket to be readable outside "
             "redis-py, so that no read holds redis-py's lock while it waits; None while the "
             "connection is down",
             _in_source("redis.connection:AbstractConnection.__init__", "self._sock = None")),
    Internal("gunicorn", "gunicorn.workers.ggevent.GeventPyWSGIWorker.wsgi_handler",
             "gunicorn.py gives gunicorn's server our handler class",
             _class_attribute("gunicorn.workers.ggevent:GeventPyWSGIWorker", "wsgi_handler")),
)


def missing_internals(*, libraries: tuple[str, ...] = (
        "websockets", "gevent", "gunicorn", "prometheus_client", "redis")) -> list[Internal]:
    """The internals in :data:`INTERNALS` that the installed libraries no longer have.

    Args:
        libraries: check only these; gunicorn, prometheus_client and redis
            are optional dependencies.
    """
    missing = []
    for internal in INTERNALS:
        if internal.library not in libraries:
            continue
        try:
            present = internal.present()
        except (ImportError, AttributeError, OSError, TypeError):
            present = False
        if not present:
            missing.append(internal)
    return missing
