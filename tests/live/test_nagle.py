"""Nagle's algorithm is off on accepted sockets, under both entry points.

With it on, a keep-alive response or a push to a client that sends nothing
waits for the client's delayed ACK (about 40 ms). How a response is written
is tested in-process (tests/unit/server/test_handler.py); speed is bench/studies/nagle.py's job.
"""

from __future__ import annotations

from tests.support.clients import connect


def test_runws_turns_nagle_off(server):
    ws = connect(server, "/tcp-nodelay/")
    assert ws.recv() == "1"
    ws.close()


def test_the_gunicorn_worker_turns_nagle_off(gunicorn):
    ws = connect(gunicorn, "/tcp-nodelay/")
    assert ws.recv() == "1"
    ws.close()
