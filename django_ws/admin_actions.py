"""An admin action, opt-in: close the selected users' WebSocket connections.

::

    # your_app/admin.py
    from django.contrib import admin
    from django.contrib.auth.admin import UserAdmin
    from django.contrib.auth.models import User

    from django_ws.admin_actions import disconnect_websockets

    admin.site.unregister(User)

    @admin.register(User)
    class WebSocketUserAdmin(UserAdmin):
        actions = [*UserAdmin.actions, disconnect_websockets]

Not in an ``admin.py`` of django_ws: nothing is added to a project's admin
unless it says so. It needs the change permission on the model, as banning
a user does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages

from .groups import disconnect

__all__ = ["disconnect_websockets"]


@admin.action(description="Disconnect the selected users' WebSockets", permissions=["change"])
def disconnect_websockets(modeladmin: Any, request: Any, queryset: Any) -> None:
    """Every connection of each selected user, in every server process, closes
    with 4001 (``groups.DISCONNECTED``), which the JS client does not reconnect after."""
    count = 0
    for user in queryset:
        disconnect(user=user, reason="disconnected by an administrator")
        count += 1
    modeladmin.message_user(
        request, f"Disconnected the WebSockets of {count} user(s) in every server process.",
        messages.SUCCESS,
    )
