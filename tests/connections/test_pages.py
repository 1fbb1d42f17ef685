import re

import pytest
from playwright.sync_api import expect

from connections.models import Connection
from tests.conftest import PASSWORD
from tests.connections.conftest import OPENAI_KEY
from workspaces.models import User


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_adds_tests_and_deletes_an_openai_connection(page, login, team, fake_provider):
    server = fake_provider(OPENAI_KEY)
    login(team.admin)
    page.goto("/w/acme/connections/")
    expect(page.get_by_test_id("connections-empty")).to_be_visible()
    page.get_by_role("link", name="Add connection").click()

    page.get_by_label("Kind").select_option("pixelml")
    expect(page.get_by_label("Base URL (optional)")).to_be_hidden()
    page.get_by_label("Kind").select_option("openai")
    page.get_by_label("Name").fill("OpenAI")
    page.get_by_label("Key").fill(OPENAI_KEY)
    page.get_by_label("Base URL (optional)").fill(f"{server.url}/v1")
    page.get_by_label("Default model (optional)").fill("gpt-4o-mini")
    page.get_by_role("button", name="Save connection").click()

    row = page.locator("tr[data-connection='OpenAI']")
    expect(page.get_by_role("status")).to_have_text("Connection “OpenAI” added.")
    expect(row.get_by_test_id("secret-hint")).to_have_text("sk-…yB5c")
    assert OPENAI_KEY not in page.content()

    row.get_by_role("button", name="Test").click()
    expect(row.get_by_test_id("check-status").locator(".badge")).to_have_text("OK")
    expect(page.get_by_role("status")).to_contain_text("“OpenAI” works.")

    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("New key (optional)")).to_have_value("")
    page.get_by_label("Default model (optional)").fill("gpt-4.1")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Connection “OpenAI” saved.")
    expect(row).to_contain_text("gpt-4.1")
    expect(row.get_by_test_id("secret-hint")).to_have_text("sk-…yB5c")

    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm-dialog")).to_contain_text("Delete the connection “OpenAI”?")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_role("status")).to_have_text("Connection “OpenAI” deleted.")
    expect(page.get_by_test_id("connections-empty")).to_be_visible()
    assert not Connection.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_operator_issues_a_pixelml_key_that_an_admin_pastes(page, login, team):
    operator = User.objects.create_superuser("ops@example.com", PASSWORD)
    page.goto("/operator/connections/pixelmlkey/add/")
    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Name").fill("Acme Corp")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#site-name")).to_have_text("▣ Turnbox console")
    key = page.get_by_test_id("issued-key").inner_text()
    assert re.fullmatch(r"pxm_\S+", key)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == key
    page.context.clear_cookies()

    login(team.admin)
    page.goto("/w/acme/connections/add/")
    page.get_by_label("Kind").select_option("pixelml")
    page.get_by_label("Name").fill("PixelML")
    page.get_by_label("Key").fill(key[:-1] + ("A" if key[-1] != "A" else "B"))
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_text("This PixelML key is not valid or has been revoked.")).to_be_visible()
    page.get_by_label("Key").fill(key)
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("status")).to_have_text("Connection “PixelML” added.")
    assert key not in page.content()
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("card-code-execution")).to_contain_text("Available")
    expect(page.get_by_test_id("card-code-execution")).to_contain_text("Acme Corp")
