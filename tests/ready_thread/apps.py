"""ready() starts a thread that ticks: it must work under runws (gevent)."""

from __future__ import annotations

import threading
import time

from django.apps import AppConfig

TICKS: list[float] = []


def tick() -> None:
    for _ in range(10_000):  # bounded: about 17 minutes at most
        TICKS.append(time.monotonic())
        time.sleep(0.1)


class ReadyThreadConfig(AppConfig):
    name = "tests.ready_thread"
    label = "ready_thread"

    def ready(self) -> None:
        threading.Thread(target=tick, daemon=True, name="ready-pusher").start()
