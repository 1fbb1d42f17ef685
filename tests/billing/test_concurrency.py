"""Charges racing on one account, on a real multi-connection database (PostgreSQL)."""

import time
from decimal import Decimal

import pytest

from billing.models import LedgerEntry
from billing.selectors import account_check, account_entries_sum, account_of_workspace
from billing.services import credit_grant, session_charge
from sandbox.session import run_to_end
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import ended_session, metered_session
from tests.conftest import postgres_only, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]


def charging(session):
    return lambda: session_charge(session_id=session.pk)


def test_20_sessions_charged_at_once_lose_no_update(funded):
    sessions = [ended_session(funded.workspace, [1000 + 100 * i]) for i in range(20)]

    outcomes = run_at_once(*map(charging, sessions), refusals=())

    assert outcomes == ["ok"] * 20
    account = account_of_workspace(workspace=funded.workspace)
    usage = LedgerEntry.objects.filter(account=account, kind="usage")
    assert usage.count() == 20
    # 1.0 s costs 1 credit; 1.1 to 2.0 s cost 2 each, 2.1 to 2.9 s cost 3 each.
    assert account.balance == Decimal("100") - (1 + 10 * 2 + 9 * 3) == Decimal("52")
    assert account_check(account=account)


def test_20_sessions_charged_at_once_never_go_below_one_seconds_worth(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("10"))
    sessions = [ended_session(team.workspace, [3000]) for _ in range(20)]

    run_at_once(*map(charging, sessions), refusals=())

    account = account_of_workspace(workspace=team.workspace)
    assert account.balance == Decimal("-1") == account_entries_sum(account=account)
    assert LedgerEntry.objects.filter(account=account, kind="usage").count() == 20


def test_charging_the_same_session_twice_at_once_leaves_one_entry(funded):
    session = ended_session(funded.workspace, [2500])

    run_at_once(charging(session), charging(session), refusals=())

    assert LedgerEntry.objects.filter(kind="usage").count() == 1
    assert account_of_workspace(workspace=funded.workspace).balance == Decimal("97")


def test_grants_and_charges_racing_add_up(funded):
    sessions = [ended_session(funded.workspace, [1000]) for _ in range(10)]
    grants = [
        lambda: credit_grant(
            workspace=funded.workspace, amount=Decimal("5"), reason="Top-up", granted_by=None
        )
        for _ in range(10)
    ]

    run_at_once(*map(charging, sessions), *grants, refusals=())

    account = account_of_workspace(workspace=funded.workspace)
    assert account.balance == Decimal("100") - 10 + 50
    assert account_check(account=account)


@pytest.mark.usefixtures("sandbox_image")
def test_sessions_sharing_an_account_stop_together_when_the_credit_is_gone(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("4"))
    took = {}

    def sleeper(name: str):
        def run() -> None:
            with metered_session(team.workspace) as session:
                began = time.monotonic()
                status = run_to_end(session.python("import time; time.sleep(10)"))
                took[name] = (status, time.monotonic() - began)

        return run

    run_at_once(sleeper("a"), sleeper("b"), refusals=())

    # 4 credits for two sessions running at once: about 2 s each, not 4.
    for status, seconds in took.values():
        assert status["status"] == "killed" and seconds < 3.5
    account = account_of_workspace(workspace=team.workspace)
    assert Decimal("-1") <= account.balance <= Decimal("0") and account_check(account=account)
