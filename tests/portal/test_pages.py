"""The portal's pages, in a real Chromium: creating a workspace, the overview by role."""

import re

import pytest
from playwright.sync_api import expect

from workspaces.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Skunk Works")
    expect(page).to_have_url(re.compile("/w/skunkworks/settings/$"))


def test_finance_sees_the_overview_and_nothing_secret(page, login, team):
    login(team.finance)
    expect(page.get_by_test_id("card-code-execution")).to_be_visible()
    for name in ("Drive", "Connections", "Members", "Settings"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    assert page.goto("/w/acme/connections/").status == 403


def test_the_settings_form_has_no_empty_gap_under_the_name(page, login, team):
    login(team.admin)
    page.goto(f"/w/{team.workspace.slug}/settings/")
    name = page.get_by_label("Name").bounding_box()
    note = page.get_by_text("The workspace's address stays").bounding_box()
    assert note["y"] - (name["y"] + name["height"]) <= 20
