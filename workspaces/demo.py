"""The demo data that the README's first command creates: idempotent, safe to re-run."""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from config.local_secrets import read_or_create
from connections.models import Connection
from connections.selectors import workspace_has_active_pixelml
from connections.services import connection_create, pixelml_key_issue
from workspaces.models import Membership, Role, User, Workspace

DEMO_PEOPLE = [
    ("admin@example.com", "Ada Admin", Role.ADMIN),
    ("member@example.com", "Max Member", Role.MEMBER),
    ("finance@example.com", "Fin Finance", Role.FINANCE),
]
OPERATOR_EMAIL = "operator@example.com"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    what: str
    password_still_valid: bool


def demo_password() -> str:
    # Generated once per installation, never shipped: a demo left running stays private.
    return settings.DEMO_PASSWORD or read_or_create(
        settings.DATA_DIR / "demo_password", lambda: secrets.token_urlsafe(9)
    )


@transaction.atomic
def demo_seed() -> list[DemoLogin]:
    password = demo_password()
    workspace, _ = Workspace.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
    research, _ = Workspace.objects.get_or_create(slug="research", defaults={"name": "Research"})
    logins = []
    for email, name, role in DEMO_PEOPLE:
        user = _ensure_user(email, name, password)
        Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": role})
        logins.append(_login(user, password, f"{role.label.lower()} of {workspace.name}"))
    # The demo admin belongs to two workspaces so that switching can be tried at once.
    admin = User.objects.get(email=DEMO_PEOPLE[0][0])
    Membership.objects.get_or_create(user=admin, workspace=research, defaults={"role": Role.ADMIN})
    operator = _ensure_user(OPERATOR_EMAIL, "Olga Operator", password, superuser=True)
    logins.append(_login(operator, password, "platform operator, console at /operator/"))
    _ensure_pixelml(workspace, admin)
    return logins


def _ensure_user(email: str, name: str, password: str, superuser: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        make = User.objects.create_superuser if superuser else User.objects.create_user
        user = make(email, password, full_name=name)
    return user


def _login(user: User, password: str, what: str) -> DemoLogin:
    return DemoLogin(user.email, password, what, user.check_password(password))


def _ensure_pixelml(workspace: Workspace, admin: User) -> None:
    if workspace_has_active_pixelml(workspace=workspace):
        return
    # A revoked demo key leaves a dead connection behind; make room for a fresh one.
    Connection.objects.filter(workspace=workspace, kind="pixelml").delete()
    _, key = pixelml_key_issue(name="Demo account")
    connection_create(
        workspace=workspace, kind="pixelml", name="PixelML", secret=key, created_by=admin
    )
