"""The Billing page: finance reads it, admins set the rate and budgets, admins with the
operator's permission grant credits; nothing of it is reachable from another workspace."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from billing import services
from billing.models import AgentBudget, BillingSettings, LedgerEntry
from billing.selectors import account_of_workspace
from billing.services import credit_grant, session_charge
from connections.models import Connection
from tests.billing.conftest import ended_session, make_turn

pytestmark = pytest.mark.django_db


def url(team, tail: str = "") -> str:
    return f"/w/{team.workspace.slug}/settings/billing/{tail}"


def allow_grants(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="grant_credits"))


def test_finance_reads_balance_rate_and_the_ledger_with_who_and_why(client_for, funded, agent):
    credit_grant(
        workspace=funded.workspace,
        amount=Decimal("5"),
        reason="Conference",
        granted_by=funded.admin,
    )
    turn = make_turn(agent, funded.member)
    session_charge(session_id=ended_session(funded.workspace, [1500], turn=turn).pk)

    response = client_for(funded.finance).get(url(funded))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="balance">103<' in page
    assert "Conference" in page and funded.admin.display_name in page
    assert "Analyst, turn 0: 1.5 s active" in page and funded.member.display_name in page
    assert 'data-testid="rate-form"' not in page and 'data-testid="grant-form"' not in page


def test_members_may_not_see_billing(client_for, funded):
    assert client_for(funded.member).get(url(funded)).status_code == 403


@pytest.mark.parametrize(
    ("tail", "method"),
    [("", "get"), ("rate/", "post"), ("grant/", "post"), ("agents/{agent}/budget/", "post")],
)
@pytest.mark.parametrize("role", ["admin", "finance", "member"])
def test_another_workspaces_people_find_nothing(
    client_for, funded, agent, other_team, tail, method, role
):
    client = client_for(other_team.user(role))
    allow_grants(other_team.admin)

    response = getattr(client, method)(url(funded, tail.format(agent=agent.pk)), {"amount": "9"})

    assert response.status_code == 404
    assert not BillingSettings.objects.exists() and LedgerEntry.objects.count() == 1


def test_an_admin_who_may_grant_sets_the_rate_and_the_workspace_budget(client_for, funded):
    allow_grants(funded.admin)
    response = client_for(funded.admin).post(
        url(funded, "rate/"), {"credits_per_second": "2.5", "monthly_budget": "300"}
    )

    assert response.status_code == 302 and response["Location"] == url(funded)
    row = BillingSettings.objects.get(workspace=funded.workspace)
    assert (row.credits_per_second, row.monthly_budget) == (Decimal("2.5"), Decimal("300"))


def test_an_admin_who_may_not_grant_sets_the_budget_but_not_the_rate(client_for, funded):
    client = client_for(funded.admin)
    assert (
        "disabled"
        in client.get(url(funded))
        .content.decode()
        .split('name="credits_per_second"')[1]
        .split(">")[0]
    )

    response = client.post(url(funded, "rate/"), {"credits_per_second": "0", "monthly_budget": "9"})

    assert response.status_code == 302
    row = BillingSettings.objects.get(workspace=funded.workspace)
    assert (row.credits_per_second, row.monthly_budget) == (Decimal("1"), Decimal("9"))


@pytest.mark.parametrize("rate", ["0", "-1", "0.0001", "1000.001"])
def test_a_rate_outside_its_bounds_is_refused_and_nothing_changes(client_for, funded, rate):
    allow_grants(funded.admin)
    response = client_for(funded.admin).post(
        url(funded, "rate/"), {"credits_per_second": rate, "monthly_budget": "abc"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a number." in page
    assert "0.001" in page or "1000" in page or "3 decimal places" in page
    assert not BillingSettings.objects.exists()


def test_the_service_refuses_a_rate_of_zero(funded):
    with pytest.raises(ValidationError, match=r"from 0\.001 to 1000"):
        services.billing_settings_update(
            workspace=funded.workspace, credits_per_second=Decimal("0"), monthly_budget=None
        )


def test_a_workspace_admin_cannot_take_credits_away(client_for, funded):
    allow_grants(funded.admin)
    response = client_for(funded.admin).post(
        url(funded, "grant/"), {"kind": "adjustment", "amount": "-50", "reason": "oops"}
    )

    assert response.status_code == 400
    assert "operator console" in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_a_shared_keys_page_shows_only_this_workspaces_entries(client_for, funded, other_team):
    key = funded.workspace.connections.get(kind="pixelml").pixelml_key
    Connection.objects.create(
        workspace=other_team.workspace, kind="pixelml", name="Shared", pixelml_key=key
    )
    services.credit_grant(
        workspace=other_team.workspace, amount=Decimal("5"), reason="Their secret project",
        granted_by=other_team.admin,
    )  # fmt: skip

    page = client_for(funded.finance).get(url(funded)).content.decode()

    assert "Their secret project" not in page


def test_finance_may_not_change_the_rate_or_budgets(client_for, funded, agent):
    client = client_for(funded.finance)

    assert client.post(url(funded, "rate/"), {"credits_per_second": "0"}).status_code == 403
    budget = url(funded, f"agents/{agent.pk}/budget/")
    assert client.post(budget, {"monthly_budget": "1"}).status_code == 403
    assert not BillingSettings.objects.exists() and not AgentBudget.objects.exists()


def test_an_admin_sets_and_removes_an_agents_budget(client_for, funded, agent):
    client = client_for(funded.admin)
    budget = url(funded, f"agents/{agent.pk}/budget/")

    assert client.post(budget, {"monthly_budget": "40"}).status_code == 302
    assert AgentBudget.objects.get(agent=agent).monthly_budget == Decimal("40")
    page = client.get(url(funded)).content.decode()
    assert 'value="40.000"' in page

    assert client.post(budget, {"monthly_budget": ""}).status_code == 302
    assert not AgentBudget.objects.exists()


def test_a_bad_agent_budget_is_refused_next_to_its_agent(client_for, funded, agent):
    response = client_for(funded.admin).post(
        url(funded, f"agents/{agent.pk}/budget/"), {"monthly_budget": "-5"}
    )

    assert response.status_code == 400
    assert "greater than or equal to 0.001" in response.content.decode()
    assert not AgentBudget.objects.exists()


def test_an_admin_without_the_permission_sees_no_grant_form_and_cannot_grant(client_for, funded):
    client = client_for(funded.admin)

    assert 'data-testid="grant-form"' not in client.get(url(funded)).content.decode()
    response = client.post(url(funded, "grant/"), {"kind": "grant", "amount": "5", "reason": "x"})

    assert response.status_code == 403
    assert LedgerEntry.objects.count() == 1


def test_finance_with_the_permission_still_cannot_grant(client_for, funded):
    allow_grants(funded.finance)

    response = client_for(funded.finance).post(
        url(funded, "grant/"), {"kind": "grant", "amount": "5", "reason": "x"}
    )

    assert response.status_code == 403


def test_an_admin_with_the_permission_grants_with_a_reason_and_is_named(client_for, funded):
    allow_grants(funded.admin)
    client = client_for(funded.admin)
    assert 'data-testid="grant-form"' in client.get(url(funded)).content.decode()

    response = client.post(
        url(funded, "grant/"), {"kind": "purchase", "amount": "250", "reason": "Invoice 42"}
    )

    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind="purchase")
    assert (entry.amount, entry.reason, entry.created_by) == (
        Decimal("250"),
        "Invoice 42",
        funded.admin,
    )
    assert account_of_workspace(workspace=funded.workspace).balance == Decimal("350")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"kind": "grant", "amount": "5", "reason": ""}, "This field is required."),
        ({"kind": "grant", "amount": "-5", "reason": "x"}, "only added"),
        ({"kind": "usage", "amount": "5", "reason": "x"}, "Select a valid choice."),
        ({"kind": "grant", "amount": "1.0005", "reason": "x"}, "decimal places"),
    ],
)
def test_a_bad_grant_is_refused_with_its_reason_and_adds_nothing(client_for, funded, data, words):
    allow_grants(funded.admin)

    response = client_for(funded.admin).post(url(funded, "grant/"), data)

    assert response.status_code == 400 and words in response.content.decode()
    assert LedgerEntry.objects.count() == 1


def test_the_sidebar_links_to_billing_for_admins_and_finance_only(client_for, funded):
    home = f"/w/{funded.workspace.slug}/"
    for person in (funded.admin, funded.finance):
        assert 'data-testid="nav-billing"' in client_for(person).get(home).content.decode()
    assert 'data-testid="nav-billing"' not in client_for(funded.member).get(home).content.decode()
