"""Billing's reads: active time of sessions, which sessions are unbilled, the ledger of a
workspace and its budget lines."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import selectors
from billing.services import agent_budget_set, credit_grant, session_charge
from sandbox import services as sandbox_services
from sandbox.models import Execution
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import ended_session, make_turn

pytestmark = pytest.mark.django_db


def test_a_running_execution_counts_up_to_now_and_a_finished_one_as_measured(funded):
    session = sandbox_services.sandbox_session_create(
        workspace=funded.workspace, started_by=None, purpose="turn", runtime="runc", image="x",
        owner="",
    )  # fmt: skip
    done = sandbox_services.execution_create(session=session, kind="python", source="x")
    sandbox_services.execution_finish(execution=done, status="ok", duration_ms=700)
    running = sandbox_services.execution_create(session=session, kind="shell", source="y")
    Execution.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(seconds=3))

    active = selectors.session_active_ms(session=session)

    assert 3700 <= active < 4700


def test_credits_are_the_ceiling_of_seconds_times_the_rate():
    assert selectors.credits_for(active_ms=1, rate=Decimal("2")) == Decimal("2")
    assert selectors.credits_for(active_ms=3000, rate=Decimal("0.5")) == Decimal("1.5")
    assert selectors.credits_for(active_ms=0, rate=Decimal("1")) == 0


def test_unbilled_sessions_are_the_ended_charged_nothing_with_time_and_a_key(funded, other_team):
    unbilled = ended_session(funded.workspace, [100])
    session_charge(session_id=ended_session(funded.workspace, [100]).pk)
    ended_session(funded.workspace, [0])
    ended_session(None, [100])
    ended_session(other_team.workspace, [100])  # no PixelML connection: nothing to charge
    sandbox_services.sandbox_session_create(
        workspace=funded.workspace, started_by=None, purpose="turn", runtime="runc", image="x",
        owner="",
    )  # fmt: skip

    assert list(selectors.sessions_unbilled()) == [unbilled]


def test_the_latest_entries_are_the_workspaces_own_accounts(funded, other_team):
    give_pixelml(other_team.workspace, other_team.admin, credits=Decimal("7"))
    credit_grant(workspace=funded.workspace, amount=Decimal("1"), reason="b", granted_by=None)

    entries = selectors.ledger_latest(workspace=funded.workspace)

    assert [e.reason for e in entries] == ["b", "Test credits"]
    assert all(e.account.key.name.startswith("Acme") for e in entries)


def test_budget_lines_show_every_agent_with_its_months_usage(funded, agent):
    agent_budget_set(agent_id=agent.pk, monthly_budget=Decimal("10"))
    turn = make_turn(agent, funded.member)
    session_charge(session_id=ended_session(funded.workspace, [2500], turn=turn).pk)

    [(listed, line)] = selectors.agent_budget_lines(workspace=funded.workspace)

    assert listed == agent and (line.budget, line.used, line.share) == (Decimal("10"), 3, 30)
    assert selectors.workspace_budget_line(workspace=funded.workspace).used == Decimal("3")
