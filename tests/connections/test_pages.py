import pytest
from playwright.sync_api import expect

from connections.models import Connection
from tests.connections.conftest import OPENAI_KEY


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

    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm-dialog")).to_contain_text("Delete the connection “OpenAI”?")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_role("status")).to_have_text("Connection “OpenAI” deleted.")
    expect(page.get_by_test_id("connections-empty")).to_be_visible()
    assert not Connection.objects.exists()
