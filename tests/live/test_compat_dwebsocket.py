"""django_ws.compat.dwebsocket against dwebsocket 0.5.12 itself.

The probe views of ``compliance/dwebsocket/probes`` run here on the compat
layer under runws, driven as ``compliance/dwebsocket/record.py`` drove them on
dwebsocket 0.5.12 (Django 3.0.14, runserver); what each showed there is
``compliance/dwebsocket/dwebsocket_0.5.12.json``. Every probe must show the same, except
the deliberate differences below, each listed by name in the README's
migration guide with the setting that changes it.
"""

from __future__ import annotations

import copy
import json
import pathlib
import urllib.request

import pytest

from compliance.dwebsocket.probes.driver import observe
from compliance.dwebsocket.probes.modes import MODES, PROBE_MODES
from django_ws.testing import LiveServer
from tests.support.clients import connect
from tests.support.timing import TIMEOUT

RECORD = json.loads(
    (pathlib.Path(__file__).parents[2] / "compliance" / "dwebsocket"
     / "dwebsocket_0.5.12.json").read_text()
)
PROBES = RECORD["probes"]

#: name -> (path in a probe's observation, dwebsocket 0.5.12's value, ours).
DELIBERATE = {
    "correct framing of non-ASCII str": (
        ("send_kinds", "non_ascii_str"),
        # 0.5.12 put the length in characters in the header, not in bytes.
        [["text", "b'h\\xc3\\xa9ll'"], ["bad frame", "rsv is not implemented, yet"]],
        [["text", "b'h\\xc3\\xa9llo'"], ["text", "b'end'"], ["close", 1000, ""]],
    ),
    "bytes that are not UTF-8 go out as a binary frame": (
        ("send_kinds", "non_utf8_bytes"),
        [["text", "b'\\xff\\xfe'"], ["text", "b'end'"], ["close", 1000, ""]],
        [["binary", "b'\\xff\\xfe'"], ["text", "b'end'"], ["close", 1000, ""]],
    ),
    "reading after the close's None never raises": (
        ("after_close_marker", "view"),
        # 0.5.12 read its closed protocol again, once the client's TCP ended.
        {"seen": ["b'a'", "None"], "has_messages": "raises EOFError",
         "count_messages": "raises EOFError", "read": "raises EOFError",
         "wait": "raises EOFError"},
        {"seen": ["b'a'", "None"], "has_messages": "False", "count_messages": "0",
         "read": "'fallback'", "wait": "None"},
    ),
    "fragmented messages are assembled": (
        ("fragmented", "view"), ["b'a'"], ["b'ab'"],
    ),
    "1 MiB message size limit (WEBSOCKET_MAX_MESSAGE_SIZE)": (
        ("large",),
        {"view": {"length": 2097152}, "client": [["close", 1000, ""]]},
        {"view": {"length": None},
         "client": [["close", 1009, "frame with 2097152 bytes exceeds limit of 1048576 bytes"]]},
    ),
    "origin check (WEBSOCKET_ALLOWED_ORIGINS)": (
        ("cross_origin",),
        {"status": 101, "client": [["text", "b'hi'"], ["close", 1000, ""]]},
        {"status": 403, "client": None},
    ),
    "1011 when the view raises": (
        ("view_raises", "client"),
        [["text", "b'hi'"], ["close", 1000, ""]],
        [["text", "b'hi'"], ["close", 1011, ""]],
    ),
    "a refused handshake gets a well-formed 400": (
        ("undecorated", "status"), "malformed response (UnicodeDecodeError)", 400,
    ),
}


def _get(value, path):
    for part in path:
        value = value[part]
    return value


def _set(value, path, new):
    for part in path[:-1]:
        value = value[part]
    value[path[-1]] = new


def expected_here(name):
    """The record of probe ``name`` with our side of its deliberate differences."""
    expected = copy.deepcopy(PROBES[name])
    for path, theirs, ours in DELIBERATE.values():
        if path[0] != name:
            continue
        if len(path) == 1:
            assert expected == theirs, f"the record changed under {path}"
            expected = copy.deepcopy(ours)
        else:
            assert _get(expected, path[1:]) == theirs, f"the record changed under {path}"
            _set(expected, path[1:], ours)
    return expected


@pytest.fixture(scope="module")
def observed():
    """Every probe, on the compat layer under runws (one server per mode)."""
    found = {}
    for mode, env in MODES.items():
        env = {**env, "DWEBSOCKET_PROBES_LIBRARY": "django_ws.compat.dwebsocket",
               "DWEBSOCKET_PROBES_PATIENCE": str(2 * TIMEOUT)}
        with LiveServer(settings_module="compliance.dwebsocket.probes.settings",
                        env=env) as live:
            found.update(observe(live.http_url(""), mode=mode, timeout=TIMEOUT))
    return found


def test_the_record_is_dwebsocket_0_5_12_on_django_3_0():
    assert RECORD["library"].startswith("dwebsocket 0.5.12") and RECORD["django"] == "3.0.14"
    assert set(PROBE_MODES) < set(PROBES)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_behaves_as_under_dwebsocket(observed, name):
    assert observed[name] == expected_here(name)


def test_every_deliberate_difference_is_in_the_migration_guide():
    guide = (pathlib.Path(__file__).parents[2] / "docs" / "howto" /
             "migrate-dwebsocket.md").read_text()
    missing = [name for name in DELIBERATE if name not in guide]
    assert not missing


# -- dwebsocket's example project, with only its import changed -------------------------


@pytest.fixture(scope="module")
def example():
    with LiveServer(settings_module="tests.compat_example.settings") as live:
        yield live


def test_dwebsocket_example_project_broadcasts_as_under_dwebsocket(example):
    recorded = RECORD["example_project"]["dwebsocket 0.5.12, runserver"]
    a = connect(example, "/echo")
    b = connect(example, "/echo")
    a.send("Hello, World!")
    seen = {"a": a.recv(), "b": b.recv()}  # text frames: browsers get strings
    a.close()
    b.send("second")
    seen["b_after_a_left"] = b.recv()
    b.close()
    with urllib.request.urlopen(example.http_url("/"), timeout=TIMEOUT) as page:
        seen["page"] = [page.status, "Received Messages" in page.read().decode()]
    assert seen == recorded

