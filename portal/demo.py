"""The demo data that the README's first command creates: idempotent, safe to re-run."""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from agents.models import Agent
from billing.services import credit_grant
from config.local_secrets import read_or_create
from connections.selectors import workspace_has_active_pixelml
from connections.services import connection_create, pixelml_key_issue
from drive.services import drive_file_upload
from skills.services import agent_skills_set, example_skills_import
from workspaces.models import Membership, Role, User, Workspace

DEMO_PEOPLE = [
    ("admin@example.com", "Ada Admin", Role.ADMIN),
    ("member@example.com", "Max Member", Role.MEMBER),
    ("finance@example.com", "Fin Finance", Role.FINANCE),
]
OPERATOR_EMAIL = "operator@example.com"
SAMPLE_PATH = "/data/files/q4_sales.csv"
DEMO_CREDITS = 3600  # an hour of active code at the default rate


@dataclass(frozen=True)
class DemoSeed:
    logins: list["DemoLogin"]
    foreign_slugs: list[str]


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
def demo_seed() -> DemoSeed:
    """Creates what is missing and never touches what people changed since: a deleted
    sample file or connection stays deleted, and a workspace that took the demo's
    address without being the demo's is left alone."""
    password = demo_password()
    people = {email: _ensure_user(email, name, password) for email, name, _ in DEMO_PEOPLE}
    admin = people[DEMO_PEOPLE[0][0]]
    operator = _ensure_user(OPERATOR_EMAIL, "Olga Operator", password, superuser=True)
    demo, created = _claim_workspace("demo", "Demo", admin)
    if created:
        for email, _, role in DEMO_PEOPLE[1:]:
            Membership.objects.create(user=people[email], workspace=demo, role=role)
        _add_pixelml(demo, admin)
        _add_sample_file(demo, admin)
    if demo is not None:
        _ensure_direct_agent(demo, admin)
        _ensure_starting_credits(demo, admin)
        _ensure_example_skills(demo, admin)
    # The demo admin belongs to two workspaces so that switching can be tried at once.
    research, _ = _claim_workspace("research", "Research", admin)
    logins = [
        _login(people[email], password, f"{role.label.lower()} of Demo")
        for email, _, role in DEMO_PEOPLE
    ]
    logins.append(_login(operator, password, "platform operator, console at /operator/"))
    foreign = [slug for slug, ws in (("demo", demo), ("research", research)) if ws is None]
    return DemoSeed(logins=logins, foreign_slugs=foreign)


def _claim_workspace(slug: str, name: str, admin: User) -> tuple[Workspace | None, bool]:
    """(workspace, created); None when the slug belongs to a workspace not the demo's."""
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        workspace = Workspace.objects.create(slug=slug, name=name)
        Membership.objects.create(user=admin, workspace=workspace, role=Role.ADMIN)
        return workspace, True
    ours = workspace.memberships.filter(user=admin, role=Role.ADMIN).exists()
    return (workspace if ours else None), False


def _ensure_user(email: str, name: str, password: str, superuser: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        make = User.objects.create_superuser if superuser else User.objects.create_user
        user = make(email, password, full_name=name)
    return user


def _login(user: User, password: str, what: str) -> DemoLogin:
    return DemoLogin(user.email, password, what, user.check_password(password))


def _add_pixelml(workspace: Workspace, admin: User) -> None:
    _, key = pixelml_key_issue(name="Demo account")
    connection_create(
        workspace=workspace, kind="pixelml", name="PixelML", secret=key, created_by=admin
    )


def _ensure_starting_credits(workspace: Workspace, admin: User) -> None:
    """Once per demo, demos seeded before billing existed too: a fixed idempotency key
    makes every later seed a no-op. A demo whose PixelML connection was removed gets none."""
    if not workspace_has_active_pixelml(workspace=workspace):
        return
    credit_grant(
        workspace=workspace,
        amount=DEMO_CREDITS,
        reason="Starting credits of the demo",
        granted_by=admin,
        idempotency_key=f"grant:demo:{workspace.pk}",
    )


DEMO_AGENT = "Code runner"


def _ensure_direct_agent(workspace: Workspace, admin: User) -> None:
    """A Direct-mode agent, so the playground works without any LLM key. Added to demos
    seeded before agents existed too; once the workspace has agents, it is left alone."""
    if workspace.agents.exists():
        return
    Agent.objects.create(
        workspace=workspace,
        name=DEMO_AGENT,
        description="Runs the ```python and ```bash blocks of your message. No LLM involved.",
        code_execution=True,
        created_by=admin,
    )


def _ensure_example_skills(workspace: Workspace, admin: User) -> None:
    """The shipped skills, attached to the Direct-mode agent. Added to demos seeded
    before skills existed too; once the workspace has skills, it is left alone (a skill
    an admin deleted stays deleted)."""
    if workspace.skills.exists():
        return
    skills = example_skills_import(workspace=workspace, created_by=admin)
    agent = workspace.agents.filter(name=DEMO_AGENT).first()
    if agent is not None:
        agent_skills_set(agent=agent, choices={skill.pk: None for skill in skills})


def _add_sample_file(workspace: Workspace, admin: User) -> None:
    drive_file_upload(
        workspace=workspace,
        path=SAMPLE_PATH,
        content=ContentFile(sample_sales_csv().encode()),
        uploaded_by=admin,
    )


def sample_sales_csv() -> str:
    """A small, deterministic quarter of sales: something real to analyse in the demo."""
    rows = ["date,region,product,units,unit_price,revenue"]
    products = [("Starter", 49), ("Team", 199), ("Enterprise", 990)]
    regions = ["North", "South", "East", "West"]
    for month in (10, 11, 12):
        for r, region in enumerate(regions):
            for p, (product, price) in enumerate(products):
                units = 5 + (month * 7 + r * 11 + p * 13) % 40
                day = 1 + (r * 7 + p * 3) % 28
                rows.append(
                    f"2025-{month:02d}-{day:02d},{region},{product},{units},{price},{units * price}"
                )
    return "\n".join(rows) + "\n"
