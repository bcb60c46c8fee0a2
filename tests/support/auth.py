"""Logging a user in on a live test server, and reading its probes."""

from __future__ import annotations

import json
import urllib.request

import pytest
import websocket

from tests.support.clients import connect
from tests.support.timing import TIMEOUT


def login(server, username, *perms):
    query = f"user={username}" + "".join(f"&perm={p}" for p in perms)
    with urllib.request.urlopen(server.http_url(f"/test-login/?{query}"), timeout=TIMEOUT) as r:
        cookies = r.headers.get_all("Set-Cookie")
    session = next(c.split(";")[0] for c in cookies if c.startswith("sessionid="))
    return session


def status_of(server, path, **options):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, path, **options)
    return info.value.status_code


def probe(server, key):
    with urllib.request.urlopen(server.http_url(f"/probe/{key}/"), timeout=TIMEOUT) as r:
        return json.load(r)["value"]
