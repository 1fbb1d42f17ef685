import hashlib

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from workspaces.models import Invitation, Membership, User, Workspace


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    )


def members_of_workspace(*, workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__email")


def membership_get(*, workspace: Workspace, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), workspace=workspace, pk=pk)


def account_exists(*, email: str) -> bool:
    return User.objects.filter(email=email).exists()


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitations_open() -> QuerySet[Invitation]:
    """Invitations whose link still works: neither accepted nor expired."""
    return Invitation.objects.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


def invitation_open_by_token(*, token: str) -> Invitation | None:
    return (
        invitations_open()
        .select_related("workspace")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitations_pending(*, workspace: Workspace) -> QuerySet[Invitation]:
    # Expired ones are listed too, so the admin sees who never joined and can re-send.
    return (
        workspace.invitations.filter(accepted_at__isnull=True)
        .select_related("created_by")
        .order_by("email")
    )


def invitation_get_pending(*, workspace: Workspace, pk: int) -> Invitation:
    return get_object_or_404(Invitation, workspace=workspace, pk=pk, accepted_at__isnull=True)
