"""Invitation and password reset end to end, in a real Chromium, with the email going
through a real SMTP server (aiosmtpd)."""

import re

import pytest
from playwright.sync_api import expect

from workspaces.models import Membership, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def emailed_link(inbox, address: str) -> str:
    [message] = inbox.to(address)
    return re.search(r"http://\S+/", message.get_content()).group(0)


def test_an_invitation_reaches_only_the_mailbox_and_its_link_makes_the_account(
    page, login, team, live_server, smtp_server
):
    login(team.admin)
    page.goto("/w/acme/members/")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_label("Role", exact=True).select_option("finance")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_test_id("invitation-created")).to_contain_text("sent by email")

    link = emailed_link(smtp_server, "newcomer@example.com")
    assert link.startswith(f"{live_server.url}/invite/")
    assert link.split("/")[-2] not in page.content()
    expect(page.get_by_test_id("invitation-link")).to_have_count(0)

    newcomer = page.context.browser.new_context(base_url=live_server.url)
    try:
        theirs = newcomer.new_page()
        theirs.goto(link)
        theirs.get_by_label("Your name").fill("Nina Newcomer")
        theirs.get_by_label("Password", exact=True).fill("a-long-passphrase-of-my-own")
        theirs.get_by_label("Password confirmation").fill("a-long-passphrase-of-my-own")
        theirs.get_by_role("button", name="Create account and join").click()
        expect(theirs.get_by_test_id("current-workspace")).to_have_text("Acme")
    finally:
        newcomer.close()
    assert Membership.objects.get(user__email="newcomer@example.com").role == Role.FINANCE


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    page, team, live_server, smtp_server
):
    page.goto("/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(team.member.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_test_id("reset-sent")).to_be_visible()

    page.goto(emailed_link(smtp_server, team.member.email))
    page.get_by_label("New password", exact=True).fill("my-new-long-passphrase")
    page.get_by_label("New password confirmation").fill("my-new-long-passphrase")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_test_id("reset-complete")).to_be_visible()

    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill(team.member.email)
    page.get_by_label("Password").fill("my-new-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-workspace")).to_have_text("Acme")


def test_without_email_the_login_page_sends_people_to_the_operator(page, db):
    page.goto("/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_test_id("reset-unavailable")).to_contain_text("sends no email")
