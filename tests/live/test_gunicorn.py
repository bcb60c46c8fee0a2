"""The gunicorn worker: same behaviour as runws, in a multi-process server."""

from __future__ import annotations

import threading

import pytest

from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT

pytest.importorskip("gunicorn")


def test_echo_and_lazy_accept_under_gunicorn(gunicorn):
    import websocket

    sockets = [connect(gunicorn, "/echo/") for _ in range(20)]  # spread over workers
    for n, ws in enumerate(sockets):
        ws.send(f"#{n}")
        assert ws.recv() == f"#{n}"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(gunicorn, "/refuse/404/")
    assert info.value.status_code == 404
    for ws in sockets:
        ws.close()


@pytest.mark.parametrize("path", ["/echo/", "/detached/"])
def test_sigterm_closes_with_1001(gunicorn, path):
    ws = connect(gunicorn, path)
    ws.send("x")
    assert ws.recv() == "x"
    codes = []
    stopper = threading.Thread(target=lambda: codes.append(gunicorn.stop()))
    stopper.start()
    assert receive_close(ws)[0] == 1001
    stopper.join(TIMEOUT * 3)
    assert codes == [0]
