"""History, envelopes, recovery and presence on the memory backend, in-process.

One test per sentence of the README's contract where it can be checked
without a network; tests/live/test_recovery.py checks the rest against
real redis-server and runws processes.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_ws.connection import counters
from django_ws.groups import envelopes
from django_ws.groups.envelopes import parse_position, since_from_path
from django_ws.groups.memory import MemoryBackend
from django_ws.groups.streams import HistoryOptions, MemoryHistory
from tests.support.members import Member, publish


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def backend(clock=None, **options):
    memory = MemoryBackend("test", options)
    if clock is not None:
        memory._history.clock = clock
    return memory


# -- positions and broadcast ----------------------------------------------------


def test_broadcast_returns_increasing_opaque_positions():
    memory = backend()
    positions = [publish(memory, "room", f"m{n}") for n in range(3)]
    assert all(isinstance(p, str) for p in positions)
    parsed = [parse_position(p) for p in positions]
    assert len({epoch for epoch, _ in parsed}) == 1
    assert [offset for _, offset in parsed] == [1, 2, 3]


def test_broadcast_returns_none_when_the_group_keeps_no_history():
    memory = backend(history_size=0)
    assert publish(memory, "room", "hello") is None
    assert memory.history("room") == []


def test_plain_join_is_unchanged():
    memory = backend()
    member = Member()
    memory.join("room", member)
    publish(memory, "room", "hello")
    publish(memory, "room", {"a": 1})
    assert member.frames == [(b"hello", True), (b'{"a": 1}', True)]


# -- the envelope protocol ----------------------------------------------------------


def test_first_envelope_at_once_with_the_latest_position():
    memory = backend()
    publish(memory, "room", "before")
    member = Member()
    memory.join("room", member, recover=True)
    [first] = member.envelopes()
    assert first == {"group": "room", "recovered": False, "position": memory.history("room")[-1][0]}


def test_a_group_with_no_message_still_has_a_position():
    memory = backend()
    member = Member()
    memory.join("room", member, recover=True)
    [first] = member.envelopes()
    assert parse_position(first["position"])[1] == 0
    position = publish(memory, "room", "one")
    assert member.envelopes()[1] == {"group": "room", "position": position, "data": "one"}


def test_data_envelopes_by_kind():
    memory = backend()
    member = Member()
    memory.join("room", member, recover=True)
    p1 = publish(memory, "room", {"text": "hi"})
    p2 = publish(memory, "room", "a str")
    p3 = publish(memory, "room", b"\x00\xff")
    assert member.envelopes()[1:] == [
        {"group": "room", "position": p1, "data": {"text": "hi"}},
        {"group": "room", "position": p2, "data": "a str"},
        {"group": "room", "position": p3, "bytes": base64.b64encode(b"\x00\xff").decode()},
    ]
    assert all(text for _, text in member.frames)  # JSON text frames


def test_recover_after_since_exactly_what_was_missed_in_order():
    memory = backend()
    since = publish(memory, "room", "seen")
    missed = [publish(memory, "room", f"missed {n}") for n in range(5)]
    member = Member()
    memory.join("room", member, since=since)
    first, *replayed = member.envelopes()
    assert first == {"group": "room", "recovered": True, "position": missed[-1]}
    assert replayed == [
        {"group": "room", "position": p, "data": f"missed {n}"} for n, p in enumerate(missed)
    ]
    live = publish(memory, "room", "live")
    assert member.envelopes()[-1] == {"group": "room", "position": live, "data": "live"}


def test_recover_reads_since_from_the_query_string():
    memory = backend()
    since = publish(memory, "room", "seen")
    publish(memory, "room", "missed")
    query = json.dumps({"room": since})
    member = Member(path=f"/room/?django_ws_since={query}")
    memory.join("room", member, recover=True)
    assert [e.get("data") for e in member.envelopes()] == [None, "missed"]
    assert member.envelopes()[0]["recovered"] is True


def test_nothing_missed_is_recovered_with_no_replay():
    memory = backend()
    since = publish(memory, "room", "seen")
    member = Member()
    memory.join("room", member, since=since)
    assert member.envelopes() == [{"group": "room", "recovered": True, "position": since}]


def test_past_the_size_window_recovered_false_and_no_replay():
    memory = backend(history_size=3)
    since = publish(memory, "room", "seen")
    for n in range(4):
        publish(memory, "room", [n])
    member = Member()
    memory.join("room", member, since=since)
    assert member.envelopes() == [
        {"group": "room", "recovered": False, "position": memory.history("room")[-1][0]}
    ]


def test_past_the_age_window_recovered_false():
    clock = Clock()
    memory = backend(clock, history_ttl=10)
    since = publish(memory, "room", "seen")
    clock.now += 5
    publish(memory, "room", "old")
    clock.now += 6  # "old" is 6 s old, within the ttl, but "seen"+1 ... is too
    publish(memory, "room", "new")
    clock.now += 5  # now "old" is 11 s old: gone, so "since" cannot be served
    member = Member()
    memory.join("room", member, since=since)
    assert member.envelopes()[0]["recovered"] is False
    assert len(member.envelopes()) == 1


def test_another_epoch_is_refused():
    clock = Clock()
    memory = backend(clock, history_ttl=10)
    since = publish(memory, "room", "seen")
    clock.now += 11  # nobody published for history_ttl: the stream is forgotten
    publish(memory, "room", "after")
    member = Member()
    memory.join("room", member, since=since)
    first = member.envelopes()[0]
    assert first["recovered"] is False
    assert parse_position(first["position"])[0] != parse_position(since)[0]


def test_a_malformed_since_is_not_recovered():
    memory = backend()
    publish(memory, "room", "x")
    member = Member()
    memory.join("room", member, since="not a position")
    assert member.envelopes()[0]["recovered"] is False


def test_a_group_nobody_publishes_to_costs_nothing():
    clock = Clock()
    memory = backend(clock, history_ttl=10)
    publish(memory, "quiet", "once")
    clock.now += 11
    publish(memory, "busy", "sweeps")
    assert "quiet" not in memory._history._streams
    assert set(memory._history._streams) == {"busy"}


def test_history_is_bounded_by_size():
    memory = backend(history_size=5)
    for n in range(20):
        publish(memory, "room", [n])
    assert [m for _, m in memory.history("room")] == [[15], [16], [17], [18], [19]]


def test_per_group_overrides_by_pattern():
    memory = backend(history={"chat.*": {"history_size": 2}, "quiet.*": {"history_size": 0}})
    for n in range(5):
        publish(memory, "chat.lobby", [n])
        publish(memory, "other", [n])
    assert [m for _, m in memory.history("chat.lobby")] == [[3], [4]]
    assert len(memory.history("other")) == 5
    assert publish(memory, "quiet.room", "x") is None


@pytest.mark.parametrize(
    "options",
    [{"history_size": -1}, {"history_ttl": "120"}, {"presence_ttl": True}, {"history": []}],
)
def test_bad_options_are_refused_clearly(options):
    with pytest.raises(ImproperlyConfigured, match="WEBSOCKET_GROUPS"):
        MemoryBackend("test", options)


def test_history_since_and_limit():
    memory = backend()
    positions = [publish(memory, "room", {"n": n}) for n in range(10)]
    assert memory.history("room", limit=3) == [(positions[n], {"n": n}) for n in (7, 8, 9)]
    assert memory.history("room", since=positions[7]) == [(positions[n], {"n": n}) for n in (8, 9)]
    assert memory.history("room", limit=0) == []
    assert memory.history("nothing") == []


def test_the_public_history_and_presence_functions(settings):
    from django_ws import groups

    settings.WEBSOCKET_GROUPS = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}
    position = groups.broadcast("public", {"text": "hi"})
    assert groups.history("public") == [(position, {"text": "hi"})]
    assert groups.presence("public") == []


# -- live delivery: duplicates, gaps ------------------------------------------------


def test_a_live_duplicate_is_dropped_and_a_gap_is_filled_from_the_history():
    memory = backend()
    member = Member()
    memory.join("room", member, recover=True)
    p1 = publish(memory, "room", "one")
    epoch, _ = parse_position(p1)
    # As a Redis listener would see them: "one" again, then "three" without "two".
    memory.deliver_envelopes("room", epoch, (1, b"one", envelopes.STR))
    memory._history.append("room", b"two", envelopes.STR)
    memory._history.append("room", b"three", envelopes.STR)
    memory.deliver_envelopes("room", epoch, (3, b"three", envelopes.STR))
    assert [e.get("data") for e in member.envelopes()] == [None, "one", "two", "three"]


def test_an_unfillable_gap_says_recovered_false():
    memory = backend(history_size=1)
    member = Member()
    memory.join("room", member, recover=True)
    p1 = publish(memory, "room", "one")
    epoch, _ = parse_position(p1)
    for word in ("two", "three", "four"):
        memory._history.append("room", word.encode(), envelopes.STR)
    memory.deliver_envelopes("room", epoch, (4, b"four", envelopes.STR))
    got = member.envelopes()
    # Told plainly, with the latest position: what came before it is the
    # state the client reloads (history() has "four"); live ones follow.
    assert got[2] == {
        "group": "room",
        "recovered": False,
        "position": envelopes.format_position(epoch, 4),
    }
    assert [e.get("data") for e in got] == [None, "one", None]
    five = publish(memory, "room", "five")
    assert member.envelopes()[-1] == {"group": "room", "position": five, "data": "five"}


# -- presence --------------------------------------------------------------------


def test_presence_join_and_leave_envelopes():
    memory = backend()
    watcher, alice = Member(), Member()
    memory.join("room", watcher, recover=True)
    before = time.time()
    memory.join("room", alice, presence={"name": "alice"})
    [record] = memory.presence("room")
    assert record["info"] == {"name": "alice"}
    assert before <= record["joined"] <= time.time()
    assert isinstance(record["connection"], str)
    assert watcher.envelopes()[-1] == {
        "group": "room",
        "presence": "join",
        "info": {"name": "alice"},
    }
    memory.leave("room", alice)
    assert watcher.envelopes()[-1] == {
        "group": "room",
        "presence": "leave",
        "info": {"name": "alice"},
    }
    assert memory.presence("room") == []


def test_presence_true_uses_the_request_user():
    class User:
        is_authenticated = True
        pk = 7

        def get_username(self):
            return "ada"

    memory = backend()
    member = Member()
    member.user = User()
    memory.join("room", member, presence=True)
    assert memory.presence("room")[0]["info"] == {"id": 7, "username": "ada"}
    anonymous = Member()
    memory.join("room", anonymous, presence=True)
    assert memory.presence("room")[1]["info"] == {"id": None, "username": ""}


def test_a_bad_presence_is_refused():
    with pytest.raises(TypeError, match="presence must be"):
        backend().join("room", Member(), presence="alice")


def test_leaving_removes_envelope_members_and_unsubscribes():
    memory = backend()
    plain, envelope = Member(), Member()
    memory.join("room", plain)
    memory.join("room", envelope, recover=True)
    assert set(memory.local_members("room")) == {plain, envelope}
    memory.leave("room", plain)
    assert memory.local_members("room") == [envelope]
    memory.leave("room", envelope)
    assert memory.local_members("room") == []
    assert "room" not in memory.hub.members and "room" not in memory.hub.envelopes


def test_since_from_path_ignores_what_is_not_a_position_map():
    assert since_from_path("/x/?django_ws_since=oops", "room") is None
    assert since_from_path('/x/?django_ws_since={"room": 3}', "room") is None
    assert since_from_path('/x/?django_ws_since={"room": "e-3"}', "room") == "e-3"
    assert since_from_path("/x/", "room") is None


def test_memory_history_read_of_an_unknown_position():
    history = MemoryHistory(HistoryOptions())
    epoch, top, entries = history.read("room", "abc-5")
    assert (top, entries) == (0, None) and epoch != "abc"


def test_envelopes_without_history_carry_no_position_and_never_recover():
    memory = backend(history_size=0)
    member = Member()
    memory.join("room", member, since="abc-1")
    publish(memory, "room", "live")
    assert member.envelopes() == [
        {"group": "room", "recovered": False, "position": None},
        {"group": "room", "position": None, "data": "live"},
    ]


def test_reading_the_history_of_an_unknown_group_creates_nothing():
    memory = backend()
    assert memory.history("nobody") == []
    assert memory._history._streams == {}


# -- django_ws_recoveries_total ----------------------------------------------------


class Recoveries:
    """What ``counters.recoveries`` gained since made: ``(recovered, not recovered)``."""

    def __init__(self):
        self.start = list(counters.recoveries)

    def gained(self):
        return (
            counters.recoveries[True] - self.start[True],
            counters.recoveries[False] - self.start[False],
        )


def test_a_recovered_join_counts_recovered_true():
    memory = backend()
    since = publish(memory, "room", "seen")
    publish(memory, "room", "missed")
    recoveries = Recoveries()
    assert memory.join("room", Member(), since=since) is True
    query = json.dumps({"room": since})  # the JS client's way: recover=True, ?django_ws_since=
    assert memory.join("room", Member(path=f"/room/?django_ws_since={query}"), recover=True)
    assert recoveries.gained() == (2, 0)


def test_a_join_past_the_window_counts_recovered_false():
    memory = backend(history_size=3)
    since = publish(memory, "room", "seen")
    for n in range(4):
        publish(memory, "room", [n])
    recoveries = Recoveries()
    assert memory.join("room", Member(), since=since) is False
    assert memory.join("room", Member(), since="not a position") is False
    assert recoveries.gained() == (0, 2)


def test_joins_with_nothing_to_recover_count_nothing():
    memory = backend()
    publish(memory, "room", "before")
    recoveries = Recoveries()
    memory.join("room", Member())  # plain
    memory.join("room", Member(), recover=True)  # a fresh client: no position to recover from
    memory.join("room", Member(), presence={"name": "ada"})
    publish(memory, "room", "live")
    assert recoveries.gained() == (0, 0)


def test_each_resync_counts_by_its_outcome():
    memory = backend(history_size=1)
    member = Member()
    memory.join("room", member, recover=True)
    epoch, _ = parse_position(publish(memory, "room", "one"))
    recoveries = Recoveries()
    # As a Redis listener would see them: "two" missed, then filled from the history.
    memory._history.append("room", b"two", envelopes.STR)
    memory.deliver_envelopes("room", epoch, (2, b"two", envelopes.STR))  # in step: no resync
    memory._history.append("room", b"three", envelopes.STR)
    memory._history.append("room", b"four", envelopes.STR)
    memory.deliver_envelopes("room", epoch, (4, b"four", envelopes.STR))  # "three" is gone
    assert member.envelopes()[-1]["recovered"] is False
    memory._history.append("room", b"five", envelopes.STR)
    memory.deliver_envelopes("room", epoch, (5, b"five", envelopes.STR))
    assert recoveries.gained() == (0, 1)
    memory = backend()
    member = Member()
    memory.join("room", member, recover=True)
    epoch, _ = parse_position(publish(memory, "room", "one"))
    memory._history.append("room", b"two", envelopes.STR)
    memory._history.append("room", b"three", envelopes.STR)
    memory.deliver_envelopes("room", epoch, (3, b"three", envelopes.STR))
    assert [e.get("data") for e in member.envelopes()] == [None, "one", "two", "three"]
    assert recoveries.gained() == (1, 1)


@pytest.mark.parametrize("since", [
    "x-²",  # "²".isdigit() is true; int("²") raises
    "e-" + "9" * 5000,  # past int()'s digit limit
    "e-" + "9" * 30,  # past a Redis stream id
    "e" * 200 + "-1",
    "-1",
    "e-",
    "e-1 ",
])
def test_a_malformed_client_position_is_not_recovered_and_logged(since, caplog):
    memory = backend()
    publish(memory, "room", "x")
    member = Member()
    with caplog.at_level("INFO", logger="django_ws.groups.envelopes"):
        memory.join("room", member, since=since)
    assert member.envelopes()[0]["recovered"] is False
    assert caplog.text.count("ignoring a malformed recovery position") == 1


@pytest.mark.parametrize("value", ["[" * 2600, "{" * 2600, "x-²", '{"room": 5}'])
def test_since_from_a_malformed_query_is_none(value):
    path = "/ws/?" + urllib.parse.urlencode({envelopes.SINCE_PARAMETER: value})
    assert envelopes.since_from_path(path, "room") is None


# -- join(latest=True) -------------------------------------------------------------


def test_latest_on_a_fresh_envelope_join_comes_after_the_first_envelope():
    memory = backend()
    publish(memory, "prices", {"price": 1})
    newest = publish(memory, "prices", {"price": 2})
    member = Member()
    memory.join("prices", member, recover=True, latest=True)
    first, latest = member.envelopes()
    assert first == {"group": "prices", "recovered": False, "position": newest}
    assert latest == {"group": "prices", "position": newest, "data": {"price": 2}, "latest": True}
    after = publish(memory, "prices", {"price": 3})
    assert member.envelopes()[-1] == {"group": "prices", "position": after, "data": {"price": 3}}


def test_latest_is_not_sent_again_to_a_member_that_recovered():
    memory = backend()
    seen = publish(memory, "prices", "seen")
    missed = publish(memory, "prices", "missed")
    member = Member()
    memory.join("prices", member, since=seen, latest=True)
    assert member.envelopes() == [
        {"group": "prices", "recovered": True, "position": missed},
        {"group": "prices", "position": missed, "data": "missed"},  # the replay has it
    ]
    uptodate = Member()
    memory.join("prices", uptodate, since=missed, latest=True)
    assert uptodate.envelopes() == [{"group": "prices", "recovered": True, "position": missed}]


def test_latest_after_a_position_too_old_is_read_again():
    memory = backend(history_size=2)
    gone = publish(memory, "prices", "gone")
    for n in range(3):
        newest = publish(memory, "prices", f"p{n}")
    member = Member()
    memory.join("prices", member, since=gone, latest=True)
    assert member.envelopes() == [
        {"group": "prices", "recovered": False, "position": newest},
        {"group": "prices", "position": newest, "data": "p2", "latest": True},
    ]


def test_latest_for_a_plain_member_and_for_a_group_without_messages():
    memory = backend()
    member = Member()
    memory.join("quiet", member, latest=True)
    assert member.frames == []
    publish(memory, "prices", {"price": 2})
    memory.join("prices", member, latest=True)
    assert member.frames == [(b'{"price": 2}', True)]
    publish(memory, "raw", b"\x00\xff")
    memory.join("raw", member, latest=True)
    assert member.frames[-1] == (b"\x00\xff", False)
