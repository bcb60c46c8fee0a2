"""django_ws.metrics without a server: the view's access rule, the collector,
the checks. The totals after real traffic are in tests/live/test_metrics.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import checks
from django.test import RequestFactory, override_settings

from django_ws.checks import check_metrics
from django_ws.connection import counters
from django_ws.metrics import metrics_view
from tests.support.timing import TIMEOUT

pytest.importorskip("prometheus_client")

TOKEN = "metrics-token-of-the-tests-0123"  # tests/settings.py


def get(*, token=None, user=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    request = RequestFactory().get("/metrics/", **headers)
    request.user = user or AnonymousUser()
    return metrics_view(request)


def user(*, staff):
    return SimpleNamespace(is_authenticated=True, is_staff=staff)


def test_the_token_opens_the_view():
    response = get(token=TOKEN)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE django_ws_connections_opened_total counter" in response.content


@pytest.mark.parametrize("token", [None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
def test_anonymous_without_the_token_gets_401_with_a_challenge(token):
    response = get(token=token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="django_ws metrics"'


def test_staff_get_200_other_users_403():
    assert get(user=user(staff=True)).status_code == 200
    assert get(user=user(staff=False)).status_code == 403


@override_settings(WEBSOCKET_METRICS_TOKEN=None)
def test_no_token_configured_means_staff_only():
    assert get(token="None").status_code == 401
    assert get(token="").status_code == 401
    assert get(user=user(staff=True)).status_code == 200


def test_every_metric_name_of_the_contract_is_exposed():
    from prometheus_client.parser import text_string_to_metric_families

    text = get(token=TOKEN).content.decode()
    names = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert names == {
        "django_ws_connections": "gauge",
        "django_ws_connections_opened": "counter",
        "django_ws_connections_closed": "counter",
        "django_ws_handshakes_refused": "counter",
        "django_ws_messages_received": "counter",
        "django_ws_messages_sent": "counter",
        "django_ws_received_bytes": "counter",
        "django_ws_sent_bytes": "counter",
        "django_ws_connection_duration_seconds": "histogram",
        "django_ws_broadcasts": "counter",
        "django_ws_broadcast_deliveries": "counter",
        "django_ws_slow_members_dropped": "counter",
        "django_ws_ping_rtt_seconds": "histogram",
        "django_ws_redis_reconnects": "counter",
        "django_ws_recoveries": "counter",
        "django_ws_policy_closes": "counter",
        "django_ws_disconnects": "counter",
        "django_ws_loop_blocked_seconds": "histogram",
    }


def recoveries_scraped():
    from prometheus_client.parser import text_string_to_metric_families

    text = get(token=TOKEN).content.decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "django_ws_recoveries"]
    return {sample.labels["recovered"]: sample.value for sample in family.samples}


def test_recoveries_are_exported_by_outcome():
    from django_ws.groups.memory import MemoryBackend
    from tests.support.members import Member, publish

    before = recoveries_scraped()
    assert set(before) == {"true", "false"}  # both series, from the start
    memory = MemoryBackend("test", {"history_size": 2})
    since = publish(memory, "room", "seen")
    memory.join("room", Member(), since=since)  # recovered
    for n in range(3):
        publish(memory, "room", [n])
    memory.join("room", Member(), since=since)  # past the window
    memory.join("room", Member(), since="other-1")  # another epoch
    memory.join("room", Member(), recover=True)  # nothing to recover: no attempt
    after = recoveries_scraped()
    assert {k: after[k] - before[k] for k in after} == {"true": 1, "false": 2}


def test_histogram_buckets_are_upper_bounds_inclusive():
    histogram = counters.Histogram((0.1, 1.0))
    for value in (0.1, 0.5, 1.0, 1.5):
        histogram.observe(value)
    assert histogram.counts == [1, 2, 1] and histogram.sum == pytest.approx(3.1)


@pytest.mark.parametrize(
    ("by_client", "close_sent", "expected"),
    [
        (True, "a close", "client"),
        (False, "a close", "server"),
        (None, "a close", "server"),  # the server failed the connection (1002, 1011...)
        (None, None, "client"),  # lost without any close frame: 1006
    ],
)
def test_who_closed(by_client, close_sent, expected):
    websocket = SimpleNamespace(
        closed_by_client=by_client, protocol=SimpleNamespace(close_sent=close_sent)
    )
    assert counters.closed_by(websocket) == expected


def test_register_adds_the_collector_once():
    from prometheus_client import CollectorRegistry, generate_latest

    from django_ws.metrics import register

    registry = CollectorRegistry()
    register(registry)
    register(registry)  # a second ready(), say: no duplicate
    assert generate_latest(registry).count(b"# TYPE django_ws_broadcasts_total counter") == 1


# -- checks -----------------------------------------------------------------------


def test_the_metrics_check_is_registered():
    assert check_metrics in checks.registry.registry.get_checks()


def test_default_settings_pass_the_metrics_check():
    assert check_metrics() == []


@pytest.mark.parametrize(
    "token",
    [12345678901234567890, b"metrics-token-of-the-tests", "short", " metrics-token-of-the-tests "],
)
def test_a_bad_token_is_e013_naming_the_setting(token):
    with override_settings(WEBSOCKET_METRICS_TOKEN=token):
        [error] = check_metrics()
    assert error.id == "django_ws.E013" and "WEBSOCKET_METRICS_TOKEN" in error.msg
    if isinstance(token, str):
        assert token.strip() not in error.msg  # a check's output must not show the secret


def test_the_view_mounted_without_prometheus_client_is_e014(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    [error] = check_metrics()
    assert error.id == "django_ws.E014"
    assert "pip install 'django-websocket-views[metrics]'" in error.hint


@override_settings(ROOT_URLCONF="tests.compat_example.urls")
def test_without_the_view_prometheus_client_is_not_needed(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    assert check_metrics() == []


def test_interval_is_checked_as_a_number():
    from django_ws.checks import check_settings

    with override_settings(WEBSOCKET_METRICS_INTERVAL="5"):
        assert [e.id for e in check_settings()] == ["django_ws.E002"]


def test_the_servers_start_without_prometheus_client(tmp_path):
    # The [metrics] extra is optional: runws, the gunicorn worker and the
    # connection must import, and the multiprocess copy must decline with a
    # warning, where prometheus_client cannot be imported.
    script = textwrap.dedent(
        """
        import importlib.abc, logging, os, sys

        class NoPrometheus(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "prometheus_client" or name.startswith("prometheus_client."):
                    raise ImportError("No module named 'prometheus_client'")
                return None

        sys.meta_path.insert(0, NoPrometheus())
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
        logging.basicConfig(level=logging.WARNING)
        import django_ws.connection, django_ws.server.handler, django_ws.server.wsgi
        import django_ws.gunicorn
        from django_ws.metrics import multiprocess
        assert multiprocess.start() is False
        multiprocess.stop()
        print("OK")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"
    assert "prometheus_client is not installed" in result.stderr


def test_policy_closes_are_exported_by_reason(monkeypatch):
    from prometheus_client.parser import text_string_to_metric_families

    from django_ws.connection import counters

    monkeypatch.setattr(counters, "policy_closes", {})
    counters.policy_close("fragments")
    counters.policy_close("fragments")
    counters.policy_close("control_frames")
    text = get(token=TOKEN).content.decode()
    [family] = [f for f in text_string_to_metric_families(text)
                if f.name == "django_ws_policy_closes"]
    assert {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")} == {
        "fragments": 2, "control_frames": 1}
