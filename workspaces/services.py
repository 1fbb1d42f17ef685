"""Writes of the workspaces app: accounts, workspaces, invitations and memberships."""

import secrets
import smtplib
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from workspaces import mail, selectors
from workspaces.models import (
    INVITATION_VALID_DAYS,
    Invitation,
    Membership,
    Role,
    User,
    Workspace,
    normalize_email,
)
from workspaces.signals import workspace_deleting

LAST_ADMIN_ERROR = "A workspace needs at least one admin: make someone else admin first."
ACCOUNT_EXISTS_ERROR = "An account with this email already exists."
INVALID_INVITATION_ERROR = "This invitation is not valid any more; ask the admin for a new one."
WRONG_ACCOUNT_ERROR = "This invitation is for another email address."
EMAIL_MAX_LENGTH = Invitation._meta.get_field("email").max_length


class InvitationInvalidError(ValidationError):
    """The link is unknown, expired, revoked or already used."""


@transaction.atomic
def user_create(*, email: str, password: str, full_name: str = "") -> User:
    email = normalize_email(email)
    validate_email(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": ACCOUNT_EXISTS_ERROR})
    user = User(email=email, full_name=full_name.strip())
    validate_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Taken between the check above and now (two sign-ups for one email at once).
        raise ValidationError({"email": ACCOUNT_EXISTS_ERROR}) from None
    return user


@transaction.atomic
def user_password_changed(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(must_change_password=False)
    user.must_change_password = False


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 2
    while Workspace.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: User) -> Workspace:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the workspace a name."})
    workspace = Workspace.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(user=owner, workspace=workspace, role=Role.ADMIN)
    return workspace


@transaction.atomic
def workspace_rename(*, workspace: Workspace, name: str) -> Workspace:
    # The slug stays: it is in every bookmarked and shared link of the workspace.
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the workspace a name."})
    workspace.name = name
    workspace.save(update_fields=["name"])
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace) -> None:
    # Sent first, in this transaction: apps holding data outside the database (Drive's
    # blobs) remove it now or once this commits, which a cascade would not do.
    workspace_deleting.send(sender=Workspace, workspace=workspace)
    workspace.delete()


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, email: str, role: str, created_by: User | None = None
) -> tuple[Invitation, str]:
    """Returns the invitation and its token, which exists only in this return.

    The answer is the same whether or not an account exists for the email: an admin must
    not learn which addresses have accounts, nor add anyone without their consent.
    """
    email = _invitable_email(email)
    _check_role(role)
    if workspace.memberships.filter(user__email=email).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    # Inviting again re-sends: the open invitation gets a new token, the old link dies.
    # update_or_create retries on the unique constraint, so two admins at once get one row.
    invitation, _ = Invitation.objects.update_or_create(
        workspace=workspace,
        email=email,
        accepted_at__isnull=True,
        defaults={
            "role": role,
            "token_hash": selectors.invitation_token_hash(token),
            "created_by": created_by,
            "created_at": now,
            "expires_at": now + timedelta(days=INVITATION_VALID_DAYS),
        },
    )
    return invitation, token


@transaction.atomic
def invitation_send(
    *,
    workspace: Workspace,
    email: str,
    role: str,
    link_for: Callable[[str], str],
    created_by: User | None = None,
) -> tuple[Invitation, str | None]:
    """Creates (or renews) the invitation and emails its link, made by ``link_for`` from
    the token. Returns the link only when this Turnbox delivers no email: then the admin
    must pass it on. When sending fails nothing changes (an older link keeps working)."""
    invitation, token = invitation_create(
        workspace=workspace, email=email, role=role, created_by=created_by
    )
    link = link_for(token)
    if not mail.email_delivers():
        return invitation, link
    try:
        mail.invitation_email_send(invitation=invitation, link=link)
    except (smtplib.SMTPException, OSError) as error:
        raise ValidationError(
            f"The invitation email to {invitation.email} could not be sent ({error}); "
            "nothing was changed. Try again, or ask the operator to check the email settings."
        ) from error
    return invitation, None


def _invitable_email(email: str) -> str:
    email = normalize_email(email)
    validate_email(email)
    # Checked here too: Django accepts up to 320 characters, the column holds 254.
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            {"email": f"An email address has at most {EMAIL_MAX_LENGTH} characters."}
        )
    return email


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> None:
    # Deleted rather than flagged: the link then finds nothing, and a new invitation is free.
    # Filtered, so one accepted meanwhile stays as the record of who let the person in.
    Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).delete()


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Joins an existing, logged-in account whose email the invitation was sent to."""
    invitation = _lock_open_invitation(token)
    if invitation.email != normalize_email(user.email):
        raise ValidationError(WRONG_ACCOUNT_ERROR)
    return _join(invitation, user)


@transaction.atomic
def invitation_accept_new_account(*, token: str, full_name: str, password: str) -> Membership:
    """Creates the invited person's account with the password they chose, and joins it."""
    invitation = _lock_open_invitation(token)
    user = user_create(email=invitation.email, password=password, full_name=full_name)
    return _join(invitation, user)


def _lock_open_invitation(token: str) -> Invitation:
    # Locked: two tabs accepting the same link at once are served one after the other,
    # and the second finds the invitation used.
    invitation = (
        selectors.invitations_open()
        .select_for_update()
        .filter(token_hash=selectors.invitation_token_hash(token))
        .first()
    )
    if invitation is None:
        raise InvitationInvalidError(INVALID_INVITATION_ERROR)
    return invitation


def _join(invitation: Invitation, user: User) -> Membership:
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, workspace_id=invitation.workspace_id, role=invitation.role
            )
    except IntegrityError:
        # Already a member (joined through another invitation meanwhile): that is the goal.
        membership = Membership.objects.get(user=user, workspace_id=invitation.workspace_id)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str) -> Membership:
    _check_role(role)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _ensure_another_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    if membership.role == Role.ADMIN:
        _ensure_another_admin(membership)
    membership.delete()


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})


def _ensure_another_admin(membership: Membership) -> None:
    # Lock the admin rows so two admins demoting each other at once cannot both succeed.
    admins = list(
        Membership.objects.select_for_update()
        .filter(workspace_id=membership.workspace_id, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )
    if admins == [membership.pk]:
        raise ValidationError(LAST_ADMIN_ERROR)
