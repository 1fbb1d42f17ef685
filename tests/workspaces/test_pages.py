"""The workspace admin's tasks, done in a real Chromium."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from workspaces.models import Membership, Role, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_switches_workspace_and_every_page_names_it(page, login, team, other_team):
    Membership.objects.create(user=team.admin, workspace=other_team.workspace, role=Role.MEMBER)
    login(team.admin)
    expect(page.get_by_test_id("current-workspace")).to_have_text("Acme")
    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.get_by_role("link", name=re.compile("Globex")).click()
    expect(page).to_have_url(re.compile("/w/globex/$"))
    expect(page.get_by_test_id("current-workspace")).to_have_text("Globex")
    # A plain member of Globex sees no admin navigation there.
    expect(page.get_by_role("link", name="Members", exact=True)).to_have_count(0)
    page.goto("/")
    expect(page.get_by_test_id("current-workspace")).to_have_text("Globex")


def test_admin_manages_members_in_the_browser(page, login, team):
    login(team.admin)
    page.get_by_role("link", name="Members", exact=True).click()
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Role", exact=True).select_option("finance")
    page.get_by_role("button", name="Add to workspace").click()
    notice = page.locator(".message.secret")
    expect(notice).to_contain_text("One-time password:")
    password = re.search(r"One-time password: (\S+)", notice.inner_text()).group(1)
    assert User.objects.get(email="newcomer@example.com").check_password(password)

    row = page.locator("tr[data-email='newcomer@example.com']")
    row.get_by_role("combobox").select_option("member")
    expect(page.locator(".message.success")).to_contain_text("is now Member")
    assert Membership.objects.get(user__email="newcomer@example.com").role == Role.MEMBER

    page.locator("tr[data-email='newcomer@example.com']").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".message.success")).to_contain_text("was removed")
    expect(page.locator("tr[data-email='newcomer@example.com']")).to_have_count(0)


def test_the_last_admin_is_stopped_in_the_browser(page, login, team):
    login(team.admin)
    page.goto("/w/acme/members/")
    page.locator(f"tr[data-email='{team.admin.email}']").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".message.error")).to_contain_text("at least one admin")


def test_cancelling_the_confirmation_removes_nobody(page, login, team):
    login(team.admin)
    page.goto("/w/acme/members/")
    page.locator(f"tr[data-email='{team.member.email}']").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_role("button", name="Cancel").click()
    page.reload()
    expect(page.locator(f"tr[data-email='{team.member.email}']")).to_have_count(1)


def test_a_member_is_refused_the_admin_pages(page, login, team):
    login(team.member)
    response = page.goto("/w/acme/members/")
    assert response.status == 403
    expect(page.get_by_text("for workspace admins only")).to_be_visible()


def test_a_person_changes_their_password(page, login, team):
    login(team.member)
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-brand-new-passphrase")
    page.get_by_label("New password confirmation").fill("a-brand-new-passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    team.member.refresh_from_db()
    assert team.member.check_password("a-brand-new-passphrase")


def test_a_person_creates_a_workspace_and_becomes_its_admin(page, login, team):
    login(team.member)
    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.get_by_role("link", name="+ New workspace").click()
    page.get_by_label("Name").fill("Skunkworks")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Skunkworks")
    expect(page.get_by_role("link", name="Members", exact=True)).to_be_visible()
    assert Membership.objects.get(workspace__slug="skunkworks", user=team.member).is_admin

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("Name").fill("Skunk Works")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Skunk Works")
    expect(page).to_have_url(re.compile("/w/skunkworks/settings/$"))


def test_finance_sees_the_overview_and_nothing_secret(page, login, team):
    login(team.finance)
    expect(page.get_by_test_id("card-code-execution")).to_be_visible()
    for name in ("Drive", "Connections", "Members", "Settings"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    assert page.goto("/w/acme/connections/").status == 403
