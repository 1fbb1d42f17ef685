import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from workspaces.models import Membership, Role, User, Workspace, normalize_email

LAST_ADMIN_ERROR = "A workspace needs at least one admin: make someone else admin first."


@transaction.atomic
def user_create(*, email: str, password: str, full_name: str = "") -> User:
    email = normalize_email(email)
    validate_email(email)
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": "An account with this email already exists."})
    user = User(email=email, full_name=full_name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.save()
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
def membership_add(
    *, workspace: Workspace, email: str, role: str, full_name: str = ""
) -> tuple[Membership, str | None]:
    """Adds a person by email. Returns the membership and, when the person had no
    account yet, the one-time password created for them (shown once to the admin)."""
    email = normalize_email(email)
    validate_email(email)
    _check_role(role)
    user = User.objects.filter(email=email).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(
            email, password, full_name=full_name.strip(), must_change_password=True
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, workspace=workspace, role=role)
    except IntegrityError:
        raise ValidationError({"email": f"{email} is already a member."}) from None
    return membership, password


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
