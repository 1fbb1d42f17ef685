"""Every view that touches a workspace goes through ``workspace_view``.

The URL names the workspace (``/w/<slug>/...``); a user who is not a member gets a
404, exactly as if the workspace did not exist, so slugs of other tenants cannot be
probed. A member whose role is not allowed gets a 403 that says which role is needed.
Websocket consumers ask the same question through ``workspaces.sockets``.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from workspaces.models import Membership, Role

ALL_ROLES = frozenset(Role)
LAST_WORKSPACE_SESSION_KEY = "turnbox_workspace"


def membership_for(user, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def workspace_view(roles: Iterable[Role] = ALL_ROLES) -> Callable:
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, ws: str, *args, **kwargs) -> HttpResponse:
            membership = membership_for(request.user, ws)
            request.membership = membership
            request.workspace = membership.workspace
            # Written only on change: a session save per request serialises parallel uploads.
            if request.session.get(LAST_WORKSPACE_SESSION_KEY) != ws:
                request.session[LAST_WORKSPACE_SESSION_KEY] = ws
            if membership.role not in allowed:
                names = " or ".join(sorted(Role(r).label.lower() for r in allowed))
                raise PermissionDenied(f"This page is for workspace {names}s only.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


admin_only = workspace_view(roles=[Role.ADMIN])
