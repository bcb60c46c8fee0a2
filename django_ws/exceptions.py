"""Exceptions raised by django_ws.

::

    WebSocketError                 root: catch this to catch everything below
    ├── ConnectionClosed           the connection is closed (by the peer, an
    │                              error, or locally); carries code and reason
    └── WebSocketUsageError        the view used the API wrongly (local misuse),
                                   e.g. accept() with a subprotocol the client
                                   did not offer

    ViewAbandoned (a BaseException) ends a view that keeps polling a connection
                                   closed long ago (the compat layer's
                                   wait()/read() loops); not for views to catch
    ViewInterrupted (a BaseException) ends a view that holds the event loop
                                   when the server is asked to stop

Timeouts raise the built-in :class:`TimeoutError` and wrong message types the
built-in :class:`TypeError`, as the websockets library does. A peer's protocol
error is never raised into the view: the connection closes with the RFC 6455
code and the view sees the end of the iteration (or ``None`` from ``wait()``).
"""

from __future__ import annotations


class WebSocketError(Exception):
    """Base class of every exception django_ws raises."""


class ConnectionClosed(WebSocketError):
    """Raised when sending on a connection that is closed.

    Attributes:
        code: the close code (RFC 6455 7.1.5); 1006 when no close frame was
            exchanged (the TCP connection was lost).
        reason: the close reason (RFC 6455 7.1.6), possibly empty.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        detail = f"code={code}"
        if reason:
            detail += f", reason={reason!r}"
        super().__init__(f"WebSocket connection is closed ({detail})")


class WebSocketUsageError(WebSocketError):
    """Raised when the view uses the WebSocket API in a way that cannot work."""


class ViewInterrupted(BaseException):  # noqa: N818  (no error of the caller's)
    """Ends a view that holds the event loop when the server is asked to stop.

    Raised in the view's greenlet by runws's SIGTERM/SIGINT handler (see
    ``django_ws.server.watchdog``): the shutdown (1001 to every other client) needs
    the loop. A BaseException, so that the view's ``except Exception`` does
    not swallow it.
    """


class ViewAbandoned(BaseException):  # noqa: N818  (it is no error of the caller's)
    """Ends a view that keeps polling a connection that closed long ago.

    dwebsocket code written for threads loops on ``wait()`` or ``read()``,
    which return None for ever once the client left: a thread was lost, here
    it would be a greenlet never done. A BaseException, so that the view's
    own ``except Exception`` does not swallow it; django_ws ends the view
    quietly (one log line naming it).
    """
