"""Authentication: logins, decorators, and the two token patterns of the docs'
"Authenticate" how-to, as written there."""

from django.contrib.auth import login as auth_login
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.core.signing import BadSignature, TimestampSigner
from django.http import HttpResponse

from django_ws.decorators import accept_websocket, login_required, permission_required


def test_login(request):
    """Test-only: log in as ``?user=`` (created if needed), perms from ``?perm=``."""
    user, _ = User.objects.get_or_create(username=request.GET["user"])
    if request.GET.get("staff"):
        user.is_staff = True
        user.save()
    for codename in request.GET.getlist("perm"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    auth_login(request, user)
    return HttpResponse("logged in")


@login_required
@accept_websocket
def private(request):
    if not request.is_websocket():
        return HttpResponse("private page")
    request.websocket.send(f"hello {request.user.username}")


@accept_websocket
@permission_required("auth.view_user")
def staff_only(request):
    request.websocket.send("you may view users")


signer = TimestampSigner(sep=".", salt="chat.websocket-token")


@accept_websocket
def token_feed(request):
    offered = [p for p in request.websocket.subprotocols if p.startswith("token.")]
    try:
        user_id = signer.unsign(offered[0].removeprefix("token."), max_age=300)
    except (IndexError, BadSignature):
        raise PermissionDenied from None  # 403 before the 101
    request.websocket.accept(offered[0])
    request.websocket.send(f"user {user_id}")


@accept_websocket
def token_inbox(request):
    try:
        token = request.websocket.wait(timeout=10)  # str, bytes, or None (closed)
        if not isinstance(token, str):
            raise BadSignature("the first message is not a text token")
        user_id = signer.unsign(token, max_age=300)
    except (BadSignature, TimeoutError):
        request.websocket.close(1008, "authentication failed")
        return
    request.websocket.send(f"user {user_id}")
