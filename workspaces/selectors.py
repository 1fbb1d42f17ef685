from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from workspaces.models import Membership, Role, User, Workspace


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    )


def members_of_workspace(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__email")


def membership_get(*, workspace: Workspace, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, pk=pk)


def admin_count(*, workspace: Workspace) -> int:
    return workspace.memberships.filter(role=Role.ADMIN).count()
