"""groups.disconnect() in one process (the memory backend), over socketpairs.

tests/live/test_disconnect.py runs it across processes on Redis and on a
Redis Cluster.
"""

from __future__ import annotations

import pytest

from django_ws import groups
from django_ws.groups.disconnect import Order
from tests.support.core import assert_nothing_left, connection, serve_view
from tests.support.timing import TIMEOUT

MEMORY = {"default": {"BACKEND": "django_ws.groups.memory.MemoryBackend"}}


class User:
    is_authenticated = True

    def __init__(self, pk):
        self.pk = pk


class Anonymous:
    is_authenticated = False
    pk = None


@pytest.fixture
def memory(settings):
    settings.WEBSOCKET_GROUPS = MEMORY


def open_connection(user, group=None, session_key=None):
    """A served connection of ``user``, in ``group`` if given, echoing; the
    session's key as the Django layer records it at the handshake."""
    websocket, sock, peer = connection()
    websocket.user = user
    websocket.session_key = session_key

    def view(ws):
        ws.accept()
        if group is not None:
            ws.join(group)
        for message in ws:
            ws.send(message)

    served = serve_view(websocket, sock, view)
    peer.send_text("ready")
    assert peer.recv() == "ready"  # accepted, joined
    return peer, served


def still_open(peer):
    peer.send_text("still there?")
    return peer.recv() == "still there?"


def end(peer, served):
    peer.send_close()
    peer.recv_close()
    peer.close()
    served.get(timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def disconnects(monkeypatch):
    from django_ws.connection import counters

    monkeypatch.setattr(counters, "disconnects", {})
    return counters


def test_a_user_is_disconnected_everywhere_and_only_that_user(before, memory, disconnects):
    alice_1, served_1 = open_connection(User(7), "room")
    alice_2, served_2 = open_connection(User(7))  # in no group
    bob, served_bob = open_connection(User(8), "room")
    anonymous, served_anonymous = open_connection(Anonymous())
    groups.disconnect(user=User(7), reason="banned")
    assert alice_1.recv_close() == (4001, "banned")
    assert alice_2.recv_close() == (4001, "banned")
    for peer, served in ((alice_1, served_1), (alice_2, served_2)):
        peer.close()
        served.get(timeout=TIMEOUT)
    assert still_open(bob) and still_open(anonymous)
    groups.disconnect(user=8, code=1008, reason="by pk")  # a pk does as well as the user
    assert bob.recv_close() == (1008, "by pk")
    bob.close()
    served_bob.get(timeout=TIMEOUT)
    end(anonymous, served_anonymous)
    assert_nothing_left(before)
    assert disconnects.disconnects == {"user": 3}  # django_ws_disconnects_total{by="user"}


def test_a_group_or_a_user_in_a_group(before, memory):
    alice, served_alice = open_connection(User(7), "room")
    bob, served_bob = open_connection(User(8), "room")
    carol, served_carol = open_connection(User(9), "hall")
    groups.disconnect(group="room", user=7)
    assert alice.recv_close() == (4001, "")
    alice.close()
    served_alice.get(timeout=TIMEOUT)
    assert still_open(bob)
    groups.disconnect(group="room", code=1001, reason="room closed")
    assert bob.recv_close() == (1001, "room closed")
    bob.close()
    served_bob.get(timeout=TIMEOUT)
    assert still_open(carol)
    end(carol, served_carol)
    assert_nothing_left(before)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({}, TypeError),
    ({"user": 1, "code": 1005}, ValueError),  # reserved: never sent
    ({"user": 1, "code": 2000}, ValueError),
    ({"user": 1, "reason": "é" * 62}, ValueError),  # 124 bytes
    ({"group": ""}, ValueError),
])
def test_bad_orders_fail_in_the_callers_hands(memory, kwargs, error):
    with pytest.raises(error):
        groups.disconnect(**kwargs)


def test_an_order_goes_through_its_wire_form_and_nothing_else_passes():
    order = Order("7", "room", 4001, "bye")
    assert Order.parse(order.payload(), "room") == order
    with_session = Order("7", None, 4401, "logged out", "abc")
    assert Order.parse(with_session.payload(), None) == with_session
    for foreign in (b"", b"{}", b"[1]", b'{"user":7,"code":4001,"reason":"","session":null}',
                    b'{"user":"7","code":"4001","reason":"","session":null}', b"[" * 3000,
                    b'{"user":"7","code":4001,"reason":"","session":null,"more":1}',
                    b'{"user":"7","code":4001,"reason":"","session":7}',
                    b'{"user":null,"code":1005,"reason":"","session":null}'):
        assert Order.parse(foreign, "room") is None


class Request:
    def __init__(self, session_key):
        self.session = type("Session", (), {"session_key": session_key})()


def test_logout_closes_the_connections_of_that_session_only(before, memory, settings,
                                                           disconnects):
    from django_ws.groups.disconnect import close_on_logout

    user = User(7)
    this_session, served_this = open_connection(user, session_key="session-a")
    other_session, served_other = open_connection(user, session_key="session-b")
    settings.WEBSOCKET_CLOSE_ON_LOGOUT = False
    close_on_logout(None, Request("session-a"), user)
    assert still_open(this_session)
    settings.WEBSOCKET_CLOSE_ON_LOGOUT = True
    close_on_logout(None, Request("session-a"), user)
    assert this_session.recv_close() == (4401, "logged out")
    this_session.close()
    served_this.get(timeout=TIMEOUT)
    assert still_open(other_session)  # the user's other session is not logged out
    end(other_session, served_other)
    assert_nothing_left(before)
    assert disconnects.disconnects == {"logout": 1}


def test_the_admin_action_disconnects_the_selected_users(before, memory, disconnects):
    from django_ws.admin_actions import disconnect_websockets

    class ModelAdmin:
        said = []

        def message_user(self, request, message, level):
            self.said.append(message)

    alice, served_alice = open_connection(User(7))
    bob, served_bob = open_connection(User(8))
    admin = ModelAdmin()
    disconnect_websockets(admin, None, [User(7)])
    assert alice.recv_close() == (4001, "disconnected by an administrator")
    alice.close()
    served_alice.get(timeout=TIMEOUT)
    assert still_open(bob)
    end(bob, served_bob)
    assert admin.said == ["Disconnected the WebSockets of 1 user(s) in every server process."]
    assert list(disconnect_websockets.allowed_permissions) == ["change"]
    assert_nothing_left(before)


def test_a_logout_in_a_process_without_websockets_starts_no_greenlet(memory, monkeypatch):
    # logout() runs in every process, WSGI ones too, where no event loop
    # would ever run a greenlet started for nothing.
    import gevent

    from django_ws.groups.disconnect import close_on_logout

    started = []
    monkeypatch.setattr(gevent, "spawn", lambda *args, **kwargs: started.append(args))
    close_on_logout(None, Request("session-a"), User(7))
    assert started == []


DEAD_REDIS = {"default": {"BACKEND": "django_ws.groups.redis.RedisBackend",
                          "OPTIONS": {"url": "redis://127.0.0.1:1/0"}}}


def test_redis_down_at_a_logout_is_logged_and_the_logout_goes_on(settings, caplog):
    from django_ws.groups.disconnect import close_on_logout

    settings.WEBSOCKET_GROUPS = DEAD_REDIS
    close_on_logout(None, Request("session-a"), User(7))  # no exception for logout()
    assert "could not close the WebSocket connections of" in caplog.text
    assert "Connection refused" in caplog.text or "Error" in caplog.text


def test_redis_down_at_disconnect_fails_in_the_caller_s_hands(settings):
    # The caller (an admin's shell, a task) must know the order went nowhere:
    # a Celery task retries, a shell user sees it.
    import redis

    settings.WEBSOCKET_GROUPS = DEAD_REDIS
    with pytest.raises(redis.ConnectionError):
        groups.disconnect(user=7)


@pytest.mark.django_db(transaction=True)
def test_a_new_password_closes_the_user_s_connections_once_committed(before, memory, settings,
                                                                    disconnects):
    from django.contrib.auth.models import User as DjangoUser
    from django.db import transaction

    dora = DjangoUser.objects.create_user("dora-pw", password="old secret")
    other = DjangoUser.objects.create_user("eve-pw", password="x")
    phone, served_phone = open_connection(User(dora.pk), session_key="phone")
    laptop, served_laptop = open_connection(User(dora.pk), session_key="laptop")
    bystander, served_bystander = open_connection(User(other.pk))
    dora.first_name = "Dora"
    dora.save()  # not a password change
    dora.refresh_from_db()
    dora.set_password("old secret")  # a hasher upgrade at login saves the password so
    dora._password = None
    dora.save(update_fields=["password"])
    with transaction.atomic():
        dora.set_password("new secret")
        dora.save()
        transaction.set_rollback(True)  # rolled back: the password did not change
    assert still_open(phone) and still_open(laptop)
    settings.WEBSOCKET_CLOSE_ON_LOGOUT = False
    dora.set_password("new secret")
    dora.save()
    assert still_open(phone)
    settings.WEBSOCKET_CLOSE_ON_LOGOUT = True
    with transaction.atomic():
        dora.set_password("newer secret")
        dora.save()
        assert still_open(phone)  # not before the commit
    for peer, served in ((phone, served_phone), (laptop, served_laptop)):
        assert peer.recv_close() == (4401, "password changed")
        peer.close()
        served.get(timeout=TIMEOUT)
    assert still_open(bystander)
    end(bystander, served_bystander)
    assert_nothing_left(before)
    assert disconnects.disconnects == {"user": 2}


@pytest.mark.django_db(transaction=True)
def test_redis_down_at_a_password_change_is_logged_and_the_save_stands(settings, caplog):
    from django.contrib.auth.models import User as DjangoUser

    user = DjangoUser.objects.create_user("fay-pw", password="old")
    settings.WEBSOCKET_GROUPS = DEAD_REDIS
    user.set_password("new")
    user.save()  # outside a transaction: the order goes at once, and fails
    assert "after a password change" in caplog.text
    user.refresh_from_db()
    assert user.check_password("new")
