"""Prometheus metrics: exact totals after a scripted run, scraped through the view.

The same script runs on runws, on gunicorn with one worker (the collector of
one process) and on gunicorn with two workers (prometheus_client's
multiprocess mode, the Redis groups backend so that a broadcast reaches both).
The client is websocket-client; its frames are masked (RFC 6455 5.3: 4 more
bytes each), the server's are not.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import pytest
import websocket

from tests.support.clients import connect, receive_close
from tests.support.timing import TIMEOUT, wait_for

prometheus_parser = pytest.importorskip("prometheus_client.parser")

TOKEN = "metrics-token-of-the-tests-0123"  # tests/settings.py

#: The script: N echo connections, each M text and K binary messages.
N, M, K = 4, 3, 2
TEXT, BINARY = "ten bytes!", b"\x00five"
SERVER_CLOSES = 2  # /close-with/ connections, closed by the server with 4002 "bye"
MEMBERS = 2  # group members, one broadcast
RECOVERING = "metrics-recovery"  # a group joined for envelopes after two broadcasts


def scrape(server, token=TOKEN):
    """The metrics as {(name, ((label, value), ...)): value}."""
    request = urllib.request.Request(server.http_url("/metrics/"))
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in prometheus_parser.text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def frame_bytes(payload_length, *, masked):
    # RFC 6455 5.2, payloads under 126 bytes: 2 bytes of header, a 4-byte mask.
    assert payload_length < 126
    return 2 + payload_length + (4 if masked else 0)


def run_script(server, *, members_path="/group/metrics/member/"):
    """Connections, messages, closes, refusals and a broadcast; returns the
    samples the metrics must then show."""
    echoes = [connect(server, "/echo/") for _ in range(N)]
    for ws in echoes:
        for _ in range(M):
            ws.send(TEXT)
            assert ws.recv() == TEXT
        for _ in range(K):
            ws.send_binary(BINARY)
            assert ws.recv() == BINARY
    # While they are open: the gauge, by URL name.
    wait_for(lambda: value(scrape(server), "django_ws_connections", view="echo") == N)
    for ws in echoes[:-1]:
        ws.close()  # 1000, by the client
    echoes[-1].close(status=4001)
    closers = [connect(server, f"/close-with/?code=4002&key=m{n}") for n in range(SERVER_CLOSES)]
    for ws in closers:
        assert receive_close(ws) == (4002, "bye")
    for status in (404, 403):
        with pytest.raises(websocket.WebSocketBadStatusException):
            connect(server, f"/refuse/{status}/")
    members = [connect(server, members_path) for _ in range(MEMBERS)]
    for ws in members:
        assert ws.recv() == "joined"
    with urllib.request.urlopen(
        server.http_url("/group/metrics/broadcast/?message=hello"), timeout=TIMEOUT
    ) as response:
        response.read()
    for ws in members:
        assert ws.recv() == "hello"
        ws.close()
    # Envelope members (django_ws_recoveries_total): one since a kept position
    # (recovered, "two" replayed), one since a position of another epoch (not
    # recovered), one with nothing to recover (recover=1 and no position: no attempt).
    seen = broadcast(server, RECOVERING, "one")
    broadcast(server, RECOVERING, "two")
    recovering = [
        connect(server, f"/group/{RECOVERING}/envelope/?{query}")
        for query in (f"since={seen}", "since=gone-1", "recover=1")
    ]
    envelopes = [recovering[0].recv(), recovering[0].recv(), recovering[1].recv()]
    envelopes.append(recovering[2].recv())
    decoded = [json.loads(envelope) for envelope in envelopes]
    assert [envelope.get("recovered") for envelope in decoded] == [True, None, False, False]
    assert decoded[1]["data"] == "two"
    for ws in recovering:
        ws.close()

    opened = N + SERVER_CLOSES + MEMBERS + len(recovering)
    client_close = frame_bytes(2, masked=True)  # websocket-client: code 1000 or 4001, no reason
    received = (
        N * M * frame_bytes(len(TEXT), masked=True)
        + N * K * frame_bytes(len(BINARY), masked=True)
        + opened * client_close  # every client sends one close frame (or answers one)
    )
    sent = (
        N * M * frame_bytes(len(TEXT), masked=False)
        + N * K * frame_bytes(len(BINARY), masked=False)
        + MEMBERS * (frame_bytes(len("joined"), masked=False) + frame_bytes(5, masked=False))
        + (N + MEMBERS) * frame_bytes(2, masked=False)  # the echoed close frames
        + SERVER_CLOSES * frame_bytes(2 + len("bye"), masked=False)
        + sum(frame_bytes(len(e.encode()), masked=False) for e in envelopes)
        + len(recovering) * frame_bytes(2, masked=False)
    )
    return {
        ("django_ws_connections_opened_total", ()): opened,
        ("django_ws_connections_closed_total", (("by", "client"), ("code", "1000"))): (
            N - 1 + MEMBERS + len(recovering)
        ),
        ("django_ws_connections_closed_total", (("by", "client"), ("code", "4001"))): 1,
        ("django_ws_connections_closed_total", (("by", "server"), ("code", "4002"))): (
            SERVER_CLOSES
        ),
        ("django_ws_handshakes_refused_total", (("status", "403"),)): 1,
        ("django_ws_handshakes_refused_total", (("status", "404"),)): 1,
        ("django_ws_messages_received_total", (("kind", "text"),)): N * M,
        ("django_ws_messages_received_total", (("kind", "binary"),)): N * K,
        ("django_ws_messages_sent_total", (("kind", "text"),)): (
            N * M + 2 * MEMBERS + len(envelopes)
        ),
        ("django_ws_messages_sent_total", (("kind", "binary"),)): N * K,
        ("django_ws_received_bytes_total", ()): received,
        ("django_ws_sent_bytes_total", ()): sent,
        ("django_ws_connection_duration_seconds_count", ()): opened,
        ("django_ws_broadcasts_total", ()): 3,
        ("django_ws_broadcast_deliveries_total", ()): MEMBERS,
        ("django_ws_slow_members_dropped_total", ()): 0,
        ("django_ws_redis_reconnects_total", ()): 0,
        ("django_ws_recoveries_total", (("recovered", "true"),)): 1,
        ("django_ws_recoveries_total", (("recovered", "false"),)): 1,
    }


def broadcast(server, group, message):
    """A broadcast through a server's HTTP view; its position."""
    url = server.http_url(f"/group/{group}/broadcast/?message={message}")
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return json.loads(response.read())["position"]


def assert_totals(server, expected):
    # Connections end on the server after the client saw their close: wait
    # (bounded) for the last one to be folded in, then compare everything.
    closed = sum(v for (name, _), v in expected.items() if name.endswith("closed_total"))

    def settled():
        samples = scrape(server)
        done = sum(v for (name, _), v in samples.items() if name.endswith("closed_total"))
        return (
            samples
            if done >= closed and all(samples.get(key, 0) == want for key, want in expected.items())
            else None
        )

    try:
        samples = wait_for(settled, timeout=TIMEOUT)
    except TimeoutError:
        samples = scrape(server)
    got = {key: samples.get(key, 0) for key in expected}
    assert got == expected
    assert sum(v for (name, _), v in samples.items() if name == "django_ws_connections") == 0
    assert (
        samples[("django_ws_connection_duration_seconds_bucket", (("le", "+Inf"),))]
        == (expected[("django_ws_connection_duration_seconds_count", ())])
    )
    return samples


def test_exact_totals_under_runws(server_factory):
    server = server_factory()
    expected = run_script(server)
    assert_totals(server, expected)


# -- gunicorn --------------------------------------------------------------------


@pytest.fixture
def gunicorn_factory(live_db, tmp_path):
    pytest.importorskip("gunicorn")
    started = []

    def start(**options):
        from tests.support.gunicorn import Gunicorn

        config = tmp_path / "gunicorn.conf.py"  # dead workers leave the gauge
        config.write_text("from django_ws.gunicorn import child_exit  # noqa: F401\n")
        options.setdefault("settings", "tests.settings")
        server = Gunicorn(live_db, config=config, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_exact_totals_under_gunicorn_one_worker(gunicorn_factory):
    server = gunicorn_factory(workers=1)
    expected = run_script(server)
    assert_totals(server, expected)


def multiprocess_env(tmp_path, redis_url):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    return {"PROMETHEUS_MULTIPROC_DIR": str(folder), "DJANGO_WS_TEST_REDIS": redis_url}


def booted(server, folder):
    """Wait until every worker has loaded the application: its first copy of
    the counts (WEBSOCKET_METRICS_INTERVAL after it started serving) made its file."""
    wait_for(
        lambda: (
            {f"counter_{pid}.db" for pid in server.worker_pids()}
            <= {path.name for path in folder.iterdir()}
        ),
        timeout=TIMEOUT * 3,
    )


def test_exact_totals_under_gunicorn_two_workers(gunicorn_factory, tmp_path, redis_url):
    server = gunicorn_factory(
        workers=2, env=multiprocess_env(tmp_path, redis_url), settings="tests.redis_settings"
    )
    booted(server, tmp_path / "prometheus")
    expected = run_script(server)
    assert_totals(server, expected)
    # The total is the sum of what each worker process wrote into its own
    # file (how the kernel spread the connections over them varies).
    shares = opened_per_worker(tmp_path / "prometheus")
    assert sum(shares.values()) == expected[("django_ws_connections_opened_total", ())], shares
    assert set(shares) >= set(server.worker_pids()), (shares, server.worker_pids())


def opened_per_worker(folder):
    from prometheus_client.mmap_dict import MmapedDict

    shares = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, count, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "django_ws_connections_opened_total":
                shares[pid] = shares.get(pid, 0) + count
    return shares


def test_dead_workers_leave_the_gauge_and_keep_their_counts(gunicorn_factory, tmp_path, redis_url):
    server = gunicorn_factory(
        workers=2, env=multiprocess_env(tmp_path, redis_url), settings="tests.redis_settings"
    )
    booted(server, tmp_path / "prometheus")
    sockets = [connect(server, "/echo/") for _ in range(6)]
    for ws in sockets:
        ws.send("x")
        assert ws.recv() == "x"
    # A scrape sees the other worker's counts as of its last copy: wait for the
    # copy made after the messages, not one made between a handshake and its
    # message (the gauge alone would already say 6 there).
    wait_for(lambda: (s := scrape(server)) and (
        value(s, "django_ws_connections", view="echo"),
        value(s, "django_ws_messages_received_total", kind="text"),
    ) == (6, 6), timeout=TIMEOUT * 3)
    old = server.worker_pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)  # no goodbye: only child_exit knows
    wait_for(lambda: len(set(server.worker_pids()) - set(old)) == 2, timeout=TIMEOUT * 3)
    samples = wait_for(lambda: (s := scrape(server)) and s, timeout=TIMEOUT)
    assert value(samples, "django_ws_connections", view="echo") == 0
    # Counted before the kill, copied within WEBSOCKET_METRICS_INTERVAL: kept.
    assert value(samples, "django_ws_connections_opened_total") == 6
    assert value(samples, "django_ws_messages_received_total", kind="text") == 6
    for ws in sockets:
        ws.close()


def test_refusals_by_the_server_are_counted_by_status(server_factory):
    from tests.support.clients import handshake
    from tests.support.net import raw_request

    server = server_factory(WEBSOCKET_MAX_CONNECTIONS=1)
    ws = connect(server, "/echo/")
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(server, "/echo/")  # full
    assert info.value.status_code == 503
    assert raw_request(server, handshake(key=None))[0] == 400  # no Sec-WebSocket-Key
    assert raw_request(server, handshake(version="8"))[0] == 426
    samples = scrape(server)
    assert {
        status: value(samples, "django_ws_handshakes_refused_total", status=status)
        for status in ("400", "426", "503")
    } == {"400": 1, "426": 1, "503": 1}
    assert value(samples, "django_ws_connections_opened_total") == 1
    ws.close()


def test_a_slow_member_dropped_is_counted(server_factory):
    from tests.support.clients import RawClient

    server = server_factory(WEBSOCKET_MAX_SEND_BUFFER=65536)
    slow = RawClient(server, "/group/slow/member/")  # reads nothing from now on
    url = server.http_url("/group/slow/broadcast/?message=x&repeat=1000000")
    for _ in range(40):  # bounded: the kernel's buffers fill after a few MiB
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            response.read()
        if value(scrape(server), "django_ws_slow_members_dropped_total"):
            break
    samples = wait_for(
        lambda: (
            (s := scrape(server))
            and s[("django_ws_connections_closed_total", (("by", "client"), ("code", "1006")))]
            and s
        )
    )
    assert value(samples, "django_ws_slow_members_dropped_total") == 1
    slow.close()


# -- who may scrape ----------------------------------------------------------------


def status_of(server, token=None, cookie=None):
    request = urllib.request.Request(server.http_url("/metrics/"))
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if cookie is not None:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_scraping_needs_the_token_or_staff(server):
    from tests.support.auth import login

    status, headers = status_of(server)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert status_of(server, token="wrong-token-of-the-same-length!")[0] == 401
    assert status_of(server, cookie=login(server, "metrics-user"))[0] == 403
    assert status_of(server, token=TOKEN)[0] == 200
    with urllib.request.urlopen(
        server.http_url("/test-login/?user=metrics-staff&staff=1"), timeout=TIMEOUT
    ) as response:
        cookies = response.headers.get_all("Set-Cookie")
    session = next(c.split(";")[0] for c in cookies if c.startswith("sessionid="))
    assert status_of(server, cookie=session)[0] == 200


def test_ping_round_trips_are_measured(server_factory):
    server = server_factory(WEBSOCKET_PING_INTERVAL=0.2, WEBSOCKET_PING_TIMEOUT=5)
    ws = connect(server, "/echo/")
    # websocket-client answers each ping, as it reads it, with a pong that
    # echoes its payload (RFC 6455 5.5.3).
    for _ in range(3):
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PING and len(frame.data) == 8
    ws.pong(b"unsolicited")  # RFC 6455 5.5.3: allowed, matches no ping
    samples = wait_for(
        lambda: (s := scrape(server))[("django_ws_ping_rtt_seconds_count", ())] >= 3 and s
    )
    assert samples[("django_ws_ping_rtt_seconds_count", ())] == 3
    assert 0 < samples[("django_ws_ping_rtt_seconds_sum", ())] < 3 * TIMEOUT
    ws.close()
