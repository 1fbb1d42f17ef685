"""The demo data and the seed_demo command: idempotent, and never undoing what people changed."""

import re
from io import StringIO

from django.core.management import call_command

from agents.models import Agent
from connections.models import Connection, PixelMLKey
from connections.selectors import workspace_has_active_pixelml
from drive.models import DriveFile
from drive.selectors import drive_file_open
from workspaces.models import Membership, User, Workspace

LOGIN_LINE = re.compile(r"^login: (\S+@\S+) / (\S+)  \((.+)\)$")


def seed() -> list[str]:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_each_demo_login_on_its_own_line_and_they_work(db, settings):
    settings.DEMO_PASSWORD = "demo-pass-for-tests"
    lines = seed()
    logins = [LOGIN_LINE.match(line).groups() for line in lines]
    assert [email for email, _, _ in logins] == [
        "admin@example.com",
        "member@example.com",
        "finance@example.com",
        "operator@example.com",
    ]
    for email, password, _ in logins:
        assert User.objects.get(email=email).check_password(password)
    assert User.objects.get(email="operator@example.com").is_superuser


def test_it_is_idempotent(db):
    first = seed()
    counts = (User.objects.count(), Membership.objects.count(), Connection.objects.count())
    assert seed() == first
    assert (User.objects.count(), Membership.objects.count(), Connection.objects.count()) == counts
    assert Workspace.objects.filter(slug__in=["demo", "research"]).count() == 2


def test_the_demo_workspace_can_pay_for_code_execution(db):
    seed()
    assert workspace_has_active_pixelml(workspace=Workspace.objects.get(slug="demo"))


def test_it_says_so_when_a_demo_password_was_changed(db):
    seed()
    member = User.objects.get(email="member@example.com")
    member.set_password("changed-by-the-member")
    member.save()
    line = next(line for line in seed() if "member@example.com" in line)
    assert "password changed since the demo was created" in line
    member.refresh_from_db()
    assert member.check_password("changed-by-the-member")


def test_the_demo_drive_holds_a_sample_sales_file(db):
    seed()
    seed()
    sample = DriveFile.objects.get(workspace__slug="demo", path="/data/files/q4_sales.csv")
    with drive_file_open(drive_file=sample) as handle:
        lines = handle.read().decode().splitlines()
    assert lines[0] == "date,region,product,units,unit_price,revenue"
    assert len(lines) == 1 + 3 * 4 * 3


def test_a_deleted_sample_file_is_not_brought_back(db):
    seed()
    DriveFile.objects.filter(path="/data/files/q4_sales.csv").delete()
    seed()
    assert not DriveFile.objects.filter(path="/data/files/q4_sales.csv").exists()


def test_it_counts_nothing_twice(db):
    seed()
    counts = (PixelMLKey.objects.count(), DriveFile.objects.count(), Membership.objects.count())
    seed()
    assert (
        PixelMLKey.objects.count(),
        DriveFile.objects.count(),
        Membership.objects.count(),
    ) == counts


def test_a_deleted_demo_connection_stays_deleted(db):
    seed()
    Connection.objects.filter(workspace__slug="demo").delete()
    seed()
    assert not Connection.objects.filter(workspace__slug="demo").exists()


def test_a_workspace_that_took_the_demo_address_is_left_alone(db, team):
    squatter = Workspace.objects.create(name="Demo", slug="demo")
    Membership.objects.create(user=team.admin, workspace=squatter, role="admin")
    err = StringIO()
    call_command("seed_demo", stdout=StringIO(), stderr=err)
    assert "/w/demo/ is a workspace the demo did not create" in err.getvalue()
    assert list(squatter.memberships.values_list("user__email", flat=True)) == [team.admin.email]
    assert not Connection.objects.filter(workspace=squatter).exists()


def test_the_demo_has_a_direct_mode_agent_that_runs_code(db):
    call_command("seed_demo", stdout=StringIO())
    agent = Agent.objects.get(workspace__slug="demo")
    assert agent.is_direct and agent.code_execution


def test_a_renamed_demo_agent_is_not_added_again(db):
    call_command("seed_demo", stdout=StringIO())
    Agent.objects.filter(workspace__slug="demo").update(name="Mine now")
    call_command("seed_demo", stdout=StringIO())
    assert list(Agent.objects.values_list("name", flat=True)) == ["Mine now"]
