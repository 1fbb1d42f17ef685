"""Metering and credit limits against a real Docker engine: only execution time is
charged, the gate refuses a session without credit, and running out mid-session stops
the code at the boundary."""

import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from agents.tools.files import download_from_session, upload_to_session
from billing.metering import OutOfCredit
from billing.models import BillingSettings, LedgerEntry
from billing.selectors import account_check, account_of_workspace
from billing.services import agent_budget_set, session_charge
from drive.services import drive_file_upload
from sandbox.models import Execution, SandboxSession
from sandbox.session import open_session, run_to_end
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import ended_session, make_turn
from tests.sandbox.engine import container_exists

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


def usage_of(session) -> LedgerEntry:
    return LedgerEntry.objects.get(session=session, kind=LedgerEntry.Kind.USAGE)


def balance(workspace) -> Decimal:
    return account_of_workspace(workspace=workspace).balance


def test_a_session_that_runs_2_3_s_then_idles_5_s_is_charged_3_seconds(funded):
    with open_session(workspace=funded.workspace, started_by=funded.member) as session:
        status = run_to_end(session.python("import time; time.sleep(2.3)"))
        time.sleep(5)

    entry = usage_of(session.record)
    assert status["status"] == "ok" and 2300 <= entry.active_ms < 3000
    assert entry.amount == Decimal("-3") and entry.user == funded.member
    assert balance(funded.workspace) == Decimal("97")


def test_a_timed_out_execution_is_charged_up_to_its_limit_only(funded):
    with open_session(workspace=funded.workspace) as session:
        status = run_to_end(session.python("import time; time.sleep(30)", timeout=2))

    execution = Execution.objects.get(session=session.record)
    assert status["status"] == "timeout" and execution.duration_ms == 2000
    assert usage_of(session.record).amount == Decimal("-2")


def test_upload_and_download_time_is_charged_with_the_code(funded):
    drive_file_upload(
        workspace=funded.workspace, path="/data/in.csv", content=ContentFile(b"a,b\n1,2\n")
    )
    with open_session(workspace=funded.workspace) as session:
        upload_to_session(session, workspace=funded.workspace, drive_path="/data/in.csv")
        run_to_end(session.shell("cp in.csv out.csv"))
        download_from_session(
            session, workspace=funded.workspace, sandbox_path="out.csv", drive_path="/data/"
        )

    executions = Execution.objects.filter(session=session.record)
    assert sorted(e.kind for e in executions) == ["download", "shell", "upload"]
    entry = usage_of(session.record)
    assert entry.active_ms == sum(e.duration_ms for e in executions) > 0


def test_a_workspace_without_credit_cannot_open_a_session(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("0"))

    with pytest.raises(OutOfCredit) as refused:
        open_session(workspace=team.workspace).__enter__()

    assert str(refused.value).startswith("This workspace has no credits left. A workspace admin")
    assert not SandboxSession.objects.exists()


def test_a_used_up_monthly_budget_stops_new_sessions(funded):
    BillingSettings.objects.create(workspace=funded.workspace, monthly_budget=Decimal("3"))
    session_charge(session_id=ended_session(funded.workspace, [3000]).pk)

    with pytest.raises(OutOfCredit, match="used its monthly budget of 3 credits"):
        open_session(workspace=funded.workspace).__enter__()


def test_sessions_without_a_workspace_are_neither_gated_nor_charged(team):
    with open_session(purpose="sandbox_run") as session:
        status = run_to_end(session.python("print(1)"))

    assert status["status"] == "ok" and session.record.workspace is None
    assert not LedgerEntry.objects.exists()


def test_running_out_mid_session_stops_the_code_at_the_boundary(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("2"))

    with open_session(workspace=team.workspace) as session:
        began = time.monotonic()
        status = run_to_end(session.python("import time; time.sleep(10); print('too far')"))
        took = time.monotonic() - began
        assert session.closed  # the session ended with its credit

    assert 2 <= took < 3.5
    assert status["status"] == "killed"
    assert status["message"].startswith("Stopped: the credit ran out. This workspace has no")
    assert not container_exists(session.record.container_name)
    account = account_of_workspace(workspace=team.workspace)
    assert Decimal("-1") <= account.balance <= Decimal("0") and account_check(account=account)


def test_an_agents_used_up_budget_stops_its_session(funded, agent):
    agent_budget_set(agent=agent, monthly_budget=Decimal("2"))
    turn = make_turn(agent, funded.member)

    with open_session(workspace=funded.workspace) as session:
        turn.sandbox_session = session.record
        turn.save(update_fields=["sandbox_session"])
        status = run_to_end(session.python("import time; time.sleep(10)"))

    assert (
        status["status"] == "killed"
        and "The agent Analyst has used its monthly" in (status["message"])
    )
    assert usage_of(session.record).amount >= Decimal("-3")


def test_code_that_prints_without_a_pause_is_stopped_too(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("1"))
    code = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)"

    with open_session(workspace=team.workspace) as session:
        began = time.monotonic()
        status = run_to_end(session.python(code))

    assert time.monotonic() - began < 2.5
    assert status["status"] == "killed" and "credit ran out" in status["message"]
    assert account_of_workspace(workspace=team.workspace).balance >= Decimal("-1")
