"""System checks: ids, messages that name the setting."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from django_ws.checks import check_middleware, check_settings

MIDDLEWARE = "django_ws.middleware.WebSocketMiddleware"


def ids(messages):
    return [message.id for message in messages]


def test_checks_are_registered():
    registered = checks.registry.registry.get_checks()
    assert check_middleware in registered and check_settings in registered


def test_default_settings_pass():
    assert check_middleware() == [] and check_settings() == []


@override_settings(MIDDLEWARE=[], WEBSOCKET_ACCEPT_ALL=True)
def test_accept_all_without_middleware_is_e001():
    assert ids(check_middleware()) == ["django_ws.E001"]


@override_settings(MIDDLEWARE=[MIDDLEWARE, "django.middleware.common.CommonMiddleware"])
def test_middleware_not_last_is_w001():
    assert ids(check_middleware()) == ["django_ws.W001"]


@override_settings(WEBSOCKET_FACTORY_CLASS="dwebsocket.backends.uwsgi.factory.uWsgiWebSocketFactory")
def test_dwebsocket_factory_class_is_w002_with_a_gunicorn_recipe():
    from django_ws.checks import check_dwebsocket_settings

    messages = check_dwebsocket_settings()
    assert ids(messages) == ["django_ws.W002"]
    assert "ignores" in messages[0].msg and "uWSGI" in messages[0].msg
    assert "gunicorn -k django_ws.gunicorn.GeventWebSocketWorker" in messages[0].hint


@override_settings(WEBSOCKET_FACTORY_CLASS="x.Factory")
def test_w002_is_part_of_the_registered_settings_check():
    assert ids(check_settings()) == ["django_ws.W002"]


COMPAT_MIDDLEWARE = "django_ws.compat.dwebsocket.middleware.WebSocketMiddleware"


@override_settings(MIDDLEWARE=[COMPAT_MIDDLEWARE], WEBSOCKET_ACCEPT_ALL=True)
def test_compat_middleware_counts_as_the_middleware():
    assert check_middleware() == []


@override_settings(MIDDLEWARE=[COMPAT_MIDDLEWARE, "django.middleware.common.CommonMiddleware"])
def test_compat_middleware_not_last_is_w001():
    messages = check_middleware()
    assert ids(messages) == ["django_ws.W001"] and COMPAT_MIDDLEWARE in messages[0].hint


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBSOCKET_MAX_MESSAGE_SIZE", "1MB"),
        ("WEBSOCKET_MAX_MESSAGE_SIZE", -1),
        ("WEBSOCKET_MAX_QUEUE", None),
        ("WEBSOCKET_PING_INTERVAL", True),
        ("WEBSOCKET_CLOSE_TIMEOUT", 0),
        ("WEBSOCKET_MAX_FRAGMENTS", 0),
        ("WEBSOCKET_MAX_FRAGMENTS", 1.5),
        ("WEBSOCKET_MAX_CONTROL_FRAMES", -1),
    ],
)
def test_bad_numbers_are_e002_naming_the_setting(name, value):
    with override_settings(**{name: value}):
        messages = check_settings()
    assert ids(messages) == ["django_ws.E002"]
    assert name in messages[0].msg and repr(value) in messages[0].msg


@pytest.mark.parametrize("value", ["https://a.example", ["a.example"], [1]])
def test_bad_allowed_origins_are_e003(value):
    with override_settings(WEBSOCKET_ALLOWED_ORIGINS=value):
        assert ids(check_settings()) == ["django_ws.E003"]


def test_every_origin_allowed_is_w004():
    with override_settings(WEBSOCKET_ALLOWED_ORIGINS=["*"]):
        messages = check_settings()
    assert ids(messages) == ["django_ws.W004"]
    assert "cross-site WebSocket hijacking" in messages[0].msg


@pytest.mark.parametrize("value", ["deflate", {"server_max_window_bits": 99}, {"bogus": 1}])
def test_bad_compression_is_e004(value):
    with override_settings(WEBSOCKET_COMPRESSION=value):
        messages = check_settings()
    assert ids(messages) == ["django_ws.E004"]
    assert "WEBSOCKET_COMPRESSION" in messages[0].msg


def test_none_disables_limits_and_compression():
    with override_settings(WEBSOCKET_MAX_MESSAGE_SIZE=None, WEBSOCKET_PING_INTERVAL=None,
                           WEBSOCKET_COMPRESSION=None):
        assert check_settings() == []


def test_gevent_patch_check_names_the_problem():
    # The test process is not patched (nor should it be): E009 says so.
    from django_ws.checks import check_gevent_patched

    messages = check_gevent_patched()
    assert ids(messages) == ["django_ws.E009"]
    assert "runws" in messages[0].hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nope", "django_ws.E005"),
        ({"default": {"BACKEND": "no.such.Backend"}}, "django_ws.E006"),
        ({"default": {"BACKEND": "django_ws.groups.redis.RedisBackend"}}, "django_ws.E008"),
    ],
)
def test_groups_checks(value, expected):
    from django_ws.checks import check_groups

    with override_settings(WEBSOCKET_GROUPS=value):
        assert expected in ids(check_groups())


@override_settings(WEBSOCKET_TUNE_MALLOC="yes")
def test_tune_malloc_not_a_bool_is_e010():
    messages = check_settings()
    assert ids(messages) == ["django_ws.E010"]
    assert "WEBSOCKET_TUNE_MALLOC" in messages[0].msg


def test_the_unrelated_django_ws_distribution_is_e011(tmp_path, monkeypatch):
    from django_ws.checks import check_distribution

    assert check_distribution in checks.registry.registry.get_checks()
    assert check_distribution() == []
    # What `pip install django-ws` leaves beside our files: its metadata.
    info = tmp_path / "django_ws-1.0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: django-ws\nVersion: 1.0.2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    errors = check_distribution()
    assert ids(errors) == ["django_ws.E011"]
    assert "'django-ws' 1.0.2" in errors[0].msg
    assert "pip uninstall django-ws" in errors[0].hint


@pytest.mark.parametrize("value", ["token", [""], [1], None])
def test_a_bad_redact_list_is_e012(value):
    with override_settings(WEBSOCKET_REDACT_QUERY_PARAMS=value):
        errors = [e for e in check_settings() if e.id == "django_ws.E012"]
    assert len(errors) == 1 and "WEBSOCKET_REDACT_QUERY_PARAMS" in errors[0].msg


def test_a_redact_list_is_accepted():
    with override_settings(WEBSOCKET_REDACT_QUERY_PARAMS=["token", "x_signature"]):
        assert check_settings() == []


def fake_psycopg2(callback):
    import types

    module = types.ModuleType("psycopg2")
    module.extensions = types.SimpleNamespace(get_wait_callback=lambda: callback)
    return module


@pytest.mark.parametrize(("psycopg", "callback", "expected"), [
    (None, None, ["django_ws.W005"]),  # psycopg2 alone, no psycogreen
    (None, object(), []),  # psycogreen's wait callback set
    ("installed", None, []),  # psycopg 3: Django uses it, cooperative under gevent
])
def test_psycopg2_without_psycogreen_is_w005(monkeypatch, psycopg, callback, expected):
    import sys
    import types

    from django_ws.checks import _psycopg2_without_wait_callback

    monkeypatch.setitem(sys.modules, "psycopg",
                        types.ModuleType("psycopg") if psycopg else None)
    monkeypatch.setitem(sys.modules, "psycopg2", fake_psycopg2(callback))
    messages = _psycopg2_without_wait_callback(["django.db.backends.postgresql"])
    assert ids(messages) == expected
    if expected:
        assert "psycogreen.gevent.patch_psycopg()" in messages[0].hint


def test_no_postgresql_no_w005():
    from django_ws.checks import check_blocking_database_driver

    assert check_blocking_database_driver() == []


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_threaded_setting_that_is_not_a_bool_is_e017(value):
    with override_settings(WEBSOCKET_THREADED=value):
        messages = check_settings()
    assert ids(messages) == ["django_ws.E017"]
    assert "WEBSOCKET_THREADED" in messages[0].msg


@pytest.mark.parametrize("value", ["no", 0, None])
def test_a_close_on_logout_setting_that_is_not_a_bool_is_e018(value):
    with override_settings(WEBSOCKET_CLOSE_ON_LOGOUT=value):
        messages = check_settings()
    assert ids(messages) == ["django_ws.E018"]
    assert "WEBSOCKET_CLOSE_ON_LOGOUT" in messages[0].msg


def test_threaded_must_be_a_bool_in_a_view_s_options():
    from django_ws.decorators import accept_websocket

    with pytest.raises(TypeError, match="threaded='yes'"):
        accept_websocket(threaded="yes")(lambda request: None)
