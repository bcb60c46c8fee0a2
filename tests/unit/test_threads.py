"""Thread mode's pool (django_ws.threads), in-process: what the live tests cannot wait for."""

from __future__ import annotations

import threading

import gevent
import pytest

from django_ws import threads
from tests.support.core import wait_until


@pytest.fixture
def fresh_pool(monkeypatch):
    monkeypatch.setattr(threads, "_pool", None)
    yield
    if threads._pool is not None:
        threads._pool.kill()


def test_the_threads_of_a_burst_end_once_idle(fresh_pool, monkeypatch):
    """gevent's ThreadPool keeps its threads for ever unless told otherwise."""
    monkeypatch.setattr(threads, "IDLE_THREAD_TIMEOUT", 0.05)
    names = gevent.joinall([
        gevent.spawn(threads.run_in_thread, 4, lambda: threading.current_thread().name)
        for _ in range(4)
    ])
    assert all(greenlet.successful() for greenlet in names)
    assert threads._pool.size >= 1
    wait_until(lambda: threads._pool.size == 0)
    # And the pool still serves afterwards.
    assert threads.run_in_thread(4, lambda: 42) == 42


def test_an_exception_on_the_thread_is_raised_to_the_caller_and_frees_the_slot(fresh_pool):
    def fails():
        raise ValueError("in the view")

    with pytest.raises(ValueError, match="in the view"):
        threads.run_in_thread(1, fails)
    assert not threads.pool_full(1)
    assert threads.run_in_thread(1, lambda: "next") == "next"
