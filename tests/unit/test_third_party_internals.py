"""The private internals of other libraries we use are still there.

When this fails after an upgrade, the message names each internal that
changed and where django_ws uses it (tests/support/third_party_internals.py).
"""

import importlib.metadata

import pytest

from tests.support.third_party_internals import INTERNALS, Internal, missing_internals


def test_every_internal_is_present_in_the_installed_versions():
    missing = missing_internals()
    versions = {name: importlib.metadata.version(name)
                for name in ("websockets", "gevent", "gunicorn", "prometheus_client", "redis")}
    assert not missing, "\n".join(
        f"{internal.name} (used for: {internal.used_for}) is gone from "
        f"{internal.library} {versions[internal.library]}"
        for internal in missing
    )


def test_a_changed_internal_is_reported_by_name():
    gone = Internal("websockets", "websockets.protocol.Protocol.no_such_thing", "a test",
                    lambda: hasattr(object(), "no_such_thing"))
    broken = Internal("websockets", "websockets.nowhere", "a test",
                      lambda: __import__("websockets.nowhere") is None)
    import tests.support.third_party_internals as internals

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(internals, "INTERNALS", (*INTERNALS, gone, broken))
        assert [i.name for i in missing_internals()] == [gone.name, broken.name]


def test_the_websockets_bound_stops_below_the_next_major_version():
    # pyproject.toml pins websockets below the next major release: a new
    # major version must pass the test above before it is allowed.
    requires = importlib.metadata.requires("django-websocket-views") or []
    spec = next(r for r in requires if r.startswith("websockets"))
    installed_major = int(importlib.metadata.version("websockets").split(".")[0])
    assert f"<{installed_major + 1}" in spec, spec


def test_a_text_frame_still_arriving_is_visible_to_the_protocol():
    # What protocol.py's fail-fast UTF-8 check reads through the internals
    # Protocol.parser, Protocol.reader and Frame.parse's locals, on the
    # installed websockets: without them invalid text fails only once its
    # frame is complete (Autobahn 6.4.3/6.4.4 NON-STRICT again).
    from websockets.frames import Opcode

    from django_ws.protocol import _frame_parser
    from tests.support.clients import client_frame
    from tests.support.protocol import open_protocol

    protocol = open_protocol()
    wire = client_frame(1, b"still arriving")
    protocol.receive_data(wire[:-4])
    frame_parser = _frame_parser(protocol.parser)
    assert frame_parser is not None, "Frame.parse() not found under Protocol.parser"
    fields = frame_parser.gi_frame.f_locals
    assert (fields["opcode"], fields["rsv1"], fields["mask_bytes"]) == (
        Opcode.TEXT,
        False,
        wire[2:6],
    )
    assert bytes(protocol.reader.buffer) == wire[6:-4]  # the payload so far, masked
