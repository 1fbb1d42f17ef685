"""The Billing page in a real Chromium: an admin whom the operator allowed grants
credits, sets budgets, and reads the ledger; a bad grant is refused in place."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from billing.models import AgentBudget, LedgerEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_grants_credits_and_sets_budgets_in_the_browser(page, login, funded, agent):
    funded.admin.user_permissions.add(Permission.objects.get(codename="grant_credits"))
    login(funded.admin)
    page.get_by_test_id("nav-billing").click()
    expect(page.get_by_test_id("balance")).to_have_text("100")

    grant = page.get_by_test_id("grant-form")
    grant.get_by_label("Credits").fill("-5")
    grant.get_by_label("Reason").fill("Wrong sign")
    grant.get_by_role("button", name="Add to the ledger").click()
    expect(page.get_by_test_id("grant-form")).to_contain_text("only added")
    expect(page.get_by_test_id("balance")).to_have_text("100")

    grant = page.get_by_test_id("grant-form")
    grant.get_by_label("Kind").select_option("purchase")
    grant.get_by_label("Credits").fill("250")
    grant.get_by_label("Reason").fill("Invoice 42")
    grant.get_by_role("button", name="Add to the ledger").click()
    expect(page.get_by_test_id("balance")).to_have_text("350")
    first_row = page.get_by_test_id("ledger").locator("tbody tr").first
    expect(first_row).to_contain_text("Invoice 42")
    expect(first_row).to_contain_text(funded.admin.display_name)

    rate = page.get_by_test_id("rate-form")
    rate.get_by_label("Monthly budget (credits)").fill("500")
    rate.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("workspace-budget")).to_contain_text("of a 500 credit budget")

    page.get_by_label("Monthly budget of Analyst").fill("40")
    page.locator("tr[data-agent='Analyst']").get_by_role("button", name="Save").click()
    expect(page.get_by_label("Monthly budget of Analyst")).to_have_value("40.000")
    assert AgentBudget.objects.get(agent=agent).monthly_budget == 40
    assert LedgerEntry.objects.filter(kind="purchase", created_by=funded.admin).count() == 1
