"""pytest fixtures for projects using django_ws (registered as a pytest plugin).

- ``ws_live_server``: the project (``DJANGO_SETTINGS_MODULE``) under ``runws``
  for the whole session, a :class:`~django_ws.testing.LiveServer`.
- ``ws_connect``: ``ws_connect(path, **kwargs)`` opens a
  :class:`~django_ws.testing.Client` to it, closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .testing import Client, LiveServer, connect


@pytest.fixture(scope="session")
def ws_live_server() -> Iterator[LiveServer]:
    with LiveServer() as server:
        yield server


@pytest.fixture
def ws_connect(ws_live_server: LiveServer) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def open_client(path: str, **kwargs: Any) -> Client:
        client = connect(ws_live_server.ws_url(path), **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
