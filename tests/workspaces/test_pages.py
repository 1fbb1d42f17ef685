"""The workspace admin's tasks, done in a real Chromium."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from workspaces.models import Invitation, Membership, Role

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


def test_admin_manages_members_in_the_browser(page, login, team, live_server):
    login(team.admin)
    page.get_by_role("link", name="Members", exact=True).click()
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Role", exact=True).select_option("finance")
    page.get_by_role("button", name="Create invitation").click()
    expect(page.get_by_test_id("invitation-created")).to_contain_text(
        "Invitation for newcomer@example.com created. This Turnbox sends no email"
    )
    expect(page.get_by_test_id("invitation-claim-warning")).to_contain_text(
        "Whoever opens the link first joins as newcomer@example.com"
    )
    link = page.get_by_test_id("invitation-link").inner_text()
    assert link.startswith(f"{live_server.url}/invite/")
    expect(page.locator("tr[data-invitation='newcomer@example.com']")).to_contain_text("Finance")

    # The newcomer opens the link in a browser of their own.
    newcomer = page.context.browser.new_context(base_url=live_server.url)
    try:
        theirs = newcomer.new_page()
        theirs.goto(link)
        expect(theirs.get_by_test_id("invitation-summary")).to_contain_text("Acme as Finance")
        theirs.get_by_label("Your name").fill("Nina Newcomer")
        theirs.get_by_label("Password", exact=True).fill("a-long-passphrase-of-my-own")
        theirs.get_by_label("Password confirmation").fill("a-long-passphrase-of-my-own")
        theirs.get_by_role("button", name="Create account and join").click()
        expect(theirs.get_by_test_id("current-workspace")).to_have_text("Acme")
        expect(theirs.get_by_text("Welcome to Acme")).to_be_visible()
    finally:
        newcomer.close()

    # A fresh GET: reloading would re-post the invitation form.
    page.get_by_role("link", name="Members", exact=True).click()
    row = page.locator("tr[data-email='newcomer@example.com']")
    expect(row).to_contain_text("Nina Newcomer")
    expect(page.locator("tr[data-invitation='newcomer@example.com']")).to_have_count(0)
    expect(page.get_by_test_id("invitation-link")).to_have_count(0)

    row.get_by_role("combobox").select_option("member")
    expect(page.locator(".message.success")).to_contain_text("is now Member")
    assert Membership.objects.get(user__email="newcomer@example.com").role == Role.MEMBER

    page.locator("tr[data-email='newcomer@example.com']").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".message.success")).to_contain_text("was removed")
    expect(page.locator("tr[data-email='newcomer@example.com']")).to_have_count(0)


def test_admin_revokes_an_invitation_in_the_browser(page, login, team):
    login(team.admin)
    page.goto("/w/acme/members/")
    page.get_by_label("Email").fill("maybe@example.com")
    page.get_by_role("button", name="Create invitation").click()
    page.locator("tr[data-invitation='maybe@example.com']").get_by_role(
        "button", name="Revoke"
    ).click()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".message.success")).to_contain_text("was revoked")
    expect(page.locator("tr[data-invitation='maybe@example.com']")).to_have_count(0)
    assert not Invitation.objects.exists()


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
