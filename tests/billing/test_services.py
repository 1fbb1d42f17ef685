"""The ledger's writes: grants with a reason and a person, usage charged once per
session at ceil(seconds) x rate, reconciliation, budgets and their 80 % alert."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import AgentBudget, BillingSettings, CreditAccount, LedgerEntry
from billing.selectors import account_check, account_of_workspace, month_start
from sandbox import services as sandbox_services
from sandbox.models import Execution, SandboxSession
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import ended_session, make_turn

pytestmark = pytest.mark.django_db


def balance(workspace) -> Decimal:
    return account_of_workspace(workspace=workspace).balance


# --- Grants -----------------------------------------------------------------------------


def test_a_grant_credits_the_account_and_names_who_and_why(funded):
    entry = services.credit_grant(
        workspace=funded.workspace, amount=Decimal("25.5"), reason="Pilot", granted_by=funded.admin
    )

    assert (entry.kind, entry.amount, entry.reason) == ("grant", Decimal("25.5"), "Pilot")
    assert entry.created_by == funded.admin and entry.workspace == funded.workspace
    assert balance(funded.workspace) == Decimal("125.5")
    assert account_check(account=entry.account)


def test_the_first_grant_creates_the_account(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("0"))
    assert account_of_workspace(workspace=team.workspace) is None

    services.credit_grant(
        workspace=team.workspace, amount=Decimal("3"), reason="Start", granted_by=team.admin
    )

    assert CreditAccount.objects.get().balance == Decimal("3")


@pytest.mark.parametrize(
    ("amount", "reason", "kind", "field"),
    [
        ("10", "  ", "grant", "reason"),
        ("-5", "Oops", "grant", "amount"),
        ("0", "Nothing", "adjustment", "amount"),
        ("1.0001", "Too fine", "grant", "amount"),
        ("lots", "Not a number", "grant", "amount"),
        ("NaN", "Not a number", "purchase", "amount"),
        ("5", "Sneaky", "usage", "kind"),
    ],
)
def test_it_refuses_a_bad_grant_and_says_which_field(funded, amount, reason, kind, field):
    with pytest.raises(ValidationError) as refused:
        services.credit_grant(
            workspace=funded.workspace,
            amount=amount,
            reason=reason,
            granted_by=funded.admin,
            kind=kind,
        )

    assert field in refused.value.message_dict
    assert LedgerEntry.objects.count() == 1 and balance(funded.workspace) == Decimal("100")


def test_it_refuses_a_grant_to_a_workspace_without_pixelml(team):
    with pytest.raises(ValidationError, match="no active PixelML connection"):
        services.credit_grant(
            workspace=team.workspace, amount=Decimal("5"), reason="x", granted_by=team.admin
        )


def test_an_adjustment_may_take_credits_and_is_attributed(funded):
    services.credit_grant(
        workspace=funded.workspace,
        amount=Decimal("-40"),
        reason="Duplicate purchase",
        granted_by=funded.admin,
        kind=LedgerEntry.Kind.ADJUSTMENT,
    )

    assert balance(funded.workspace) == Decimal("60")
    assert LedgerEntry.objects.get(kind="adjustment").created_by == funded.admin


def test_a_grant_with_a_used_idempotency_key_is_not_granted_again(funded):
    first = services.credit_grant(
        workspace=funded.workspace,
        amount=Decimal("7"),
        reason="Once",
        granted_by=funded.admin,
        idempotency_key="purchase:order-17",
    )
    again = services.credit_grant(
        workspace=funded.workspace,
        amount=Decimal("7"),
        reason="Once",
        granted_by=funded.admin,
        idempotency_key="purchase:order-17",
    )

    assert again.pk == first.pk
    assert balance(funded.workspace) == Decimal("107")


# --- Usage ------------------------------------------------------------------------------


def test_a_session_is_charged_the_ceiling_of_its_active_seconds_times_the_rate(funded):
    BillingSettings.objects.create(workspace=funded.workspace, credits_per_second=Decimal("2"))
    session = ended_session(funded.workspace, [1200, 1100], user=funded.member)

    entry = services.session_charge(session_id=session.pk)

    # 2.3 s of executions: 3 seconds at 2 credits, whatever the session's lifetime.
    assert (entry.kind, entry.amount, entry.active_ms) == ("usage", Decimal("-6"), 2300)
    assert entry.rate == Decimal("2") and entry.user == funded.member
    assert entry.idempotency_key == f"usage:session:{session.pk}"
    assert balance(funded.workspace) == Decimal("94")
    assert account_check(account=entry.account)


def test_upload_and_download_time_counts_as_active_time(funded):
    kinds = [Execution.Kind.UPLOAD, Execution.Kind.PYTHON, Execution.Kind.DOWNLOAD]
    session = ended_session(funded.workspace, [400, 1000, 700], kinds=kinds)

    entry = services.session_charge(session_id=session.pk)

    assert entry.active_ms == 2100 and entry.amount == Decimal("-3")


def test_charging_a_session_twice_leaves_one_entry(funded):
    session = ended_session(funded.workspace, [1500])

    first = services.session_charge(session_id=session.pk)
    second = services.session_charge(session_id=session.pk)

    assert first.pk == second.pk
    assert LedgerEntry.objects.filter(kind="usage").count() == 1
    assert balance(funded.workspace) == Decimal("98")


def test_a_turns_session_is_attributed_to_its_turn_agent_and_user(funded, agent):
    turn = make_turn(agent, funded.member)
    session = ended_session(funded.workspace, [10], user=funded.admin, turn=turn)

    entry = services.session_charge(session_id=session.pk)

    assert (entry.turn, entry.agent, entry.user) == (turn, agent, funded.member)
    assert entry.workspace == funded.workspace and entry.session == session
    assert entry.label.startswith("Analyst, turn 0")


def test_it_charges_nothing_for_no_active_time_or_an_open_session_or_no_workspace(funded):
    idle = ended_session(funded.workspace, [])
    running = sandbox_services.sandbox_session_create(
        workspace=funded.workspace, started_by=None, purpose="turn", runtime="runc", image="x",
        owner="",
    )  # fmt: skip
    operator_run = ended_session(None, [5000])

    assert services.session_charge(session_id=idle.pk) is None
    assert services.session_charge(session_id=running.pk) is None
    assert services.session_charge(session_id=operator_run.pk) is None
    assert not LedgerEntry.objects.filter(kind="usage").exists()


def test_a_charge_never_takes_the_balance_below_one_seconds_worth(funded):
    session = ended_session(funded.workspace, [250_000])

    entry = services.session_charge(session_id=session.pk)

    assert entry.amount == Decimal("-101") and entry.active_ms == 250_000
    assert balance(funded.workspace) == Decimal("-1")
    assert "not charged" in entry.label


def test_a_session_left_unbilled_by_a_crash_is_billed_once_by_reconciliation(funded):
    crashed = ended_session(funded.workspace, [2500])  # closed, never charged
    ended_session(funded.workspace, [])  # nothing to bill

    assert services.sessions_unbilled_charge() == 1
    assert services.sessions_unbilled_charge() == 0

    entry = LedgerEntry.objects.get(kind="usage")
    assert entry.session == crashed and entry.amount == Decimal("-3")
    assert balance(funded.workspace) == Decimal("97")


def test_reconciliation_charges_a_reaped_session_from_its_unfinished_execution(funded):
    session = sandbox_services.sandbox_session_create(
        workspace=funded.workspace, started_by=None, purpose="turn", runtime="runc", image="x",
        owner="gone/1/1",
    )  # fmt: skip
    execution = sandbox_services.execution_create(session=session, kind="python", source="x")
    Execution.objects.filter(pk=execution.pk).update(started_at=execution.started_at.replace(
        microsecond=0) - __import__("datetime").timedelta(seconds=4))  # fmt: skip
    sandbox_services.sandbox_session_end(session=session, reason=SandboxSession.EndReason.REAPED)

    services.sessions_unbilled_charge()

    entry = LedgerEntry.objects.get(kind="usage")
    assert 4000 <= entry.active_ms < 6000 and entry.amount in (Decimal("-5"), Decimal("-6"))


# --- Budgets ----------------------------------------------------------------------------


def test_the_80_percent_alert_is_given_once_a_month_and_recorded(funded, agent):
    BillingSettings.objects.create(workspace=funded.workspace, monthly_budget=Decimal("10"))
    ended = ended_session(funded.workspace, [7000])
    services.session_charge(session_id=ended.pk)

    assert services.budget_alerts_check(workspace=funded.workspace) == []
    alerts = services.budget_alerts_check(workspace=funded.workspace, pending=Decimal("1"))
    again = services.budget_alerts_check(workspace=funded.workspace, pending=Decimal("2"))

    assert alerts == [
        "The workspace Acme has used 80 % of its monthly budget (8 of 10 credits) this month; "
        "at 100 % code stops running."
    ]
    assert again == []
    row = BillingSettings.objects.get(workspace=funded.workspace)
    assert row.budget_alerted_month == month_start().date()


def test_an_agents_alert_counts_only_that_agents_usage_and_a_charge_gives_it(funded, agent, caplog):
    services.agent_budget_set(agent_id=agent.pk, monthly_budget=Decimal("5"))
    ended_other = ended_session(funded.workspace, [9000])
    services.session_charge(session_id=ended_other.pk)
    assert services.budget_alerts_check(workspace=funded.workspace, agent_id=agent.pk) == []

    turn = make_turn(agent, funded.member)
    services.session_charge(session_id=ended_session(funded.workspace, [4000], turn=turn).pk)

    assert "The agent Analyst has used 80 % of its monthly budget (4 of 5" in caplog.text
    assert AgentBudget.objects.get(agent=agent).budget_alerted_month == month_start().date()
    assert services.budget_alerts_check(workspace=funded.workspace, agent_id=agent.pk) == []


def test_a_changed_budget_gets_its_own_alert(funded):
    row = services.billing_settings_update(
        workspace=funded.workspace, credits_per_second=Decimal("1"), monthly_budget=Decimal("5")
    )
    BillingSettings.objects.filter(pk=row.pk).update(budget_alerted_month=date(2020, 1, 1))

    row = services.billing_settings_update(
        workspace=funded.workspace, credits_per_second=Decimal("1"), monthly_budget=Decimal("9")
    )

    assert row.budget_alerted_month is None


def test_it_refuses_a_negative_rate_or_budget(funded, agent):
    with pytest.raises(ValidationError) as refused:
        services.billing_settings_update(
            workspace=funded.workspace,
            credits_per_second=Decimal("-1"),
            monthly_budget=Decimal("0"),
        )
    assert set(refused.value.message_dict) == {"credits_per_second", "monthly_budget"}
    with pytest.raises(ValidationError, match="positive"):
        services.agent_budget_set(agent_id=agent.pk, monthly_budget=Decimal("-3"))
    assert not BillingSettings.objects.exists() and not AgentBudget.objects.exists()
