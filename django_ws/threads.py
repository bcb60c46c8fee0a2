"""Thread mode: a view's body on a real OS thread, its connection on the hub.

Under gevent every connection of a process shares one event loop, and code
that blocks in C (psycopg2 without psycogreen, mysqlclient, cx_Oracle, a long
numpy call) stops all of them. A view marked ``threaded`` runs on a thread
of a bounded pool instead (``WEBSOCKET_THREADS``): it may block as long as
it likes, the others go on. Its connection stays on the hub, where its
socket and timers live: every call the view makes on ``request.websocket``
is handed to the hub (``loop.run_callback_threadsafe``), run there on a
greenlet, and the thread waits for the answer on a real lock.

The pool is bounded: a handshake to a threaded view that finds every thread
busy gets 503 with ``Retry-After`` before any 101, as past
``WEBSOCKET_MAX_CONNECTIONS``. Each busy thread costs its stack (8 MiB of
address space, a few hundred KiB resident), where a greenlet costs about
10 KiB: thread mode is for the views that need it, not the default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .connection import WebSocket

__all__ = ["ThreadedWebSocket", "pool_full", "run_in_thread"]

_pool: Any = None  # gevent's ThreadPool, made at the first threaded view
_busy = 0  # threads running a view now
#: Seconds a thread of the pool waits for the next view before it ends: a
#: burst of threaded connections must not keep its threads (their stacks, a
#: few hundred KiB resident each) for the life of the process.
IDLE_THREAD_TIMEOUT = 60.0


def _get_pool(size: int) -> Any:
    global _pool
    if _pool is None or _pool.maxsize != size:
        from gevent.threadpool import ThreadPool

        _pool = ThreadPool(size, idle_task_timeout=IDLE_THREAD_TIMEOUT)
    return _pool


def pool_full(size: int) -> bool:
    """Whether all ``size`` threads run a view (a new one would wait)."""
    return _busy >= size


def run_in_thread(size: int, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` on a thread of the pool; this greenlet waits, the others go on.

    Re-raises what ``function`` raised. The database connections the thread
    opened are closed when it is done: each thread has its own, as under a
    threaded server.
    """
    global _busy

    def body() -> tuple[bool, Any]:
        from django.db import connections

        # What the view raised is handed back, not raised on the thread:
        # gevent's pool would print it to stderr through the hub, a second
        # traceback without the connection, besides the handler's log line.
        try:
            return True, function(*args, **kwargs)
        except BaseException as exc:
            return False, exc
        finally:
            connections.close_all()

    _busy += 1
    try:
        ok, value = _get_pool(size).spawn(body).get()
    finally:
        _busy -= 1
    if ok:
        return value
    raise value


def call_on_hub(hub: Any, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """From a thread of the pool: run ``function`` on a greenlet of ``hub``, return its result.

    The greenlet may block (``wait()`` for a message); this thread waits on
    a real lock meanwhile, the hub serving everyone else.
    """
    import gevent
    from gevent import monkey

    lock = monkey.get_original("_thread", "allocate_lock")()
    lock.acquire()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args, **kwargs)))
        except BaseException as exc:  # handed to the thread, raised there
            outcome.append((False, exc))
        finally:
            lock.release()

    hub.loop.run_callback_threadsafe(gevent.spawn, run)
    lock.acquire()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


class ThreadedWebSocket:
    """``request.websocket`` as a threaded view sees it: each call runs on the hub.

    The same API as :class:`~django_ws.connection.WebSocket`: methods are
    handed to the hub; plain attributes (``closed``, ``path``, ``subprotocol``)
    are read as they are.
    """

    def __init__(self, websocket: WebSocket, hub: Any) -> None:
        self._websocket = websocket
        self._hub = hub

    @property
    def native(self) -> WebSocket:
        """The connection itself (to be used on the hub only)."""
        return self._websocket

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._websocket, name)
        if not callable(value):
            return value
        hub = self._hub

        def on_hub(*args: Any, **kwargs: Any) -> Any:
            return call_on_hub(hub, value, *args, **kwargs)

        return on_hub

    def __iter__(self) -> Iterator[str | bytes]:
        """Each message, until the connection closes (as the native iteration)."""
        wait = self._websocket.wait
        while True:
            message = call_on_hub(self._hub, wait)
            if message is None:
                return
            yield message

    def __repr__(self) -> str:
        return f"<threaded {self._websocket!r}>"
