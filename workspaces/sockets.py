"""Access for websocket consumers: the rule of ``workspace_view``, asked at every step.

A socket outlives the request that opened it, so a consumer asks at connect and again
before each action it takes or each event it passes on: the person may have been
deactivated, removed from the workspace or given another role meanwhile. There is one
answer for "no such workspace", "not a member" and "not this role" (None: the consumer
closes with REFUSED), so slugs of other tenants cannot be probed.
"""

from collections.abc import Iterable, Mapping

from channels.db import database_sync_to_async

from workspaces.access import ALL_ROLES
from workspaces.models import Membership, Role

# The close code of a refused socket: HTTP's 403 in the range kept for applications.
REFUSED = 4403


def socket_membership(
    scope: Mapping, *, roles: Iterable[Role] = ALL_ROLES, workspace_id: int | None = None
) -> Membership | None:
    """The membership of the scope's user in the workspace its URL names (``ws``), when
    the account is active and the role is one of ``roles``; else None. Pass the
    ``workspace_id`` found at connect when checking again, so the answer is about the
    same workspace. The account is read again: the scope's user may be stale."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("workspace").filter(
        user_id=user.pk,
        user__is_active=True,
        workspace__slug=scope["url_route"]["kwargs"]["ws"],
        role__in=list(roles),
    )
    if workspace_id is not None:
        memberships = memberships.filter(workspace_id=workspace_id)
    return memberships.first()


# The same, for a consumer's coroutines: the query runs in a thread, off the event loop.
socket_membership_async = database_sync_to_async(socket_membership)
