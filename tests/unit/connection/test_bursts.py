"""The greenlets lent to detached connections' callback bursts."""

from __future__ import annotations

import gc
import weakref

import gevent
from gevent.event import Event
from greenlet import getcurrent

from django_ws.connection.bursts import Bursts


def test_a_parked_worker_serves_the_next_burst():
    dispatchers = Bursts(keep=4)
    ran = []
    for n in range(5):
        dispatchers.run(lambda n=n: ran.append((n, getcurrent())))
        gevent.sleep(0)  # from a greenlet: on the loop's next turn
    assert [n for n, _ in ran] == [0, 1, 2, 3, 4]
    assert len({id(worker) for _, worker in ran}) == 1  # one greenlet, kept
    assert len(dispatchers._idle) == 1


def test_a_blocked_burst_does_not_hold_up_the_next():
    dispatchers = Bursts(keep=1)
    release = Event()
    order = []

    def slow():
        order.append("slow starts")
        release.wait()
        order.append("slow ends")

    dispatchers.run(slow)
    dispatchers.run(lambda: order.append("fast"))
    gevent.sleep(0)
    assert order == ["slow starts", "fast"]
    release.set()
    gevent.sleep(0)
    assert order == ["slow starts", "fast", "slow ends"]
    assert len(dispatchers._idle) == 1  # keep=1: the second worker ended


def test_a_parked_worker_holds_nothing_of_its_last_burst():
    dispatchers = Bursts(keep=4)

    class Connection:
        def serve(self):
            pass

    connection = Connection()
    gone = weakref.ref(connection)
    dispatchers.run(connection.serve)
    gevent.sleep(0)
    del connection
    gc.collect()
    assert gone() is None
    assert len(dispatchers._idle) == 1


def test_a_failing_burst_is_logged_and_the_worker_serves_the_next(caplog):
    dispatchers = Bursts(keep=4)
    ran = []

    def fails():
        raise RuntimeError("a bug in a burst")

    dispatchers.run(fails)
    gevent.sleep(0)
    dispatchers.run(lambda: ran.append(getcurrent()))
    gevent.sleep(0)
    assert len(ran) == 1
    assert len(dispatchers._idle) == 1  # the same worker, parked again
    assert "a bug in a burst" in caplog.text
