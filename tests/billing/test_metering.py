"""Metering and credit limits against a real Docker engine: only execution time is
charged, the gate refuses a session without credit, and running out mid-session stops
the code at the boundary."""

import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile

from agents.tools.files import download_from_session, upload_to_session
from billing.metering import Meter, OutOfCredit, budget_alerts, gated_meter
from billing.models import BillingSettings, LedgerEntry
from billing.selectors import account_check, account_of_workspace
from billing.services import agent_budget_set, session_charge
from drive.services import drive_file_upload
from sandbox import services as sandbox_services
from sandbox.models import Execution, SandboxSession
from sandbox.session import open_session, run_to_end
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import ended_session, make_turn, metered_session
from tests.sandbox.engine import container_exists

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


def usage_of(session) -> LedgerEntry:
    return LedgerEntry.objects.get(session=session, kind=LedgerEntry.Kind.USAGE)


def balance(workspace) -> Decimal:
    return account_of_workspace(workspace=workspace).balance


def test_a_session_that_runs_2_3_s_then_idles_5_s_is_charged_3_seconds(funded):
    with metered_session(funded.workspace, started_by=funded.member) as session:
        status = run_to_end(session.python("import time; time.sleep(2.3)"))
        time.sleep(5)

    entry = usage_of(session.record)
    assert status["status"] == "ok" and 2300 <= entry.active_ms < 3000
    assert entry.amount == Decimal("-3") and entry.user == funded.member
    assert balance(funded.workspace) == Decimal("97")


def test_a_timed_out_execution_is_charged_up_to_its_limit_only(funded):
    with metered_session(funded.workspace) as session:
        status = run_to_end(session.python("import time; time.sleep(30)", timeout=2))

    execution = Execution.objects.get(session=session.record)
    assert status["status"] == "timeout" and execution.duration_ms == 2000
    assert usage_of(session.record).amount == Decimal("-2")


def test_upload_and_download_time_is_charged_with_the_code(funded):
    drive_file_upload(
        workspace=funded.workspace, path="/data/in.csv", content=ContentFile(b"a,b\n1,2\n")
    )
    with metered_session(funded.workspace) as session:
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
        metered_session(team.workspace).__enter__()

    assert str(refused.value).startswith("This workspace has no credits left. A workspace admin")
    assert not SandboxSession.objects.exists()


def test_a_used_up_monthly_budget_stops_new_sessions(funded):
    BillingSettings.objects.create(workspace=funded.workspace, monthly_budget=Decimal("3"))
    session_charge(session_id=ended_session(funded.workspace, [3000]).pk)

    with pytest.raises(OutOfCredit, match="used its monthly budget of 3 credits"):
        metered_session(funded.workspace).__enter__()


def test_sessions_without_a_workspace_are_neither_gated_nor_charged(team):
    with open_session(purpose="sandbox_run") as session:
        status = run_to_end(session.python("print(1)"))

    assert status["status"] == "ok" and session.record.workspace is None
    assert not LedgerEntry.objects.exists()


def test_running_out_mid_session_stops_the_code_at_the_boundary(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("2"))

    with metered_session(team.workspace) as session:
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
    agent_budget_set(agent_id=agent.pk, monthly_budget=Decimal("2"))
    turn = make_turn(agent, funded.member)

    with metered_session(funded.workspace, agent_id=agent.pk) as session:
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

    with metered_session(team.workspace) as session:
        began = time.monotonic()
        status = run_to_end(session.python(code))

    assert time.monotonic() - began < 2.5
    assert status["status"] == "killed" and "credit ran out" in status["message"]
    assert account_of_workspace(workspace=team.workspace).balance >= Decimal("-1")


# -- the meter and the alerts from records alone ---------------------------------------------
def open_with(workspace, durations: list[int]):
    """An open session whose finished executions took these durations (ms)."""
    session = sandbox_services.sandbox_session_create(
        workspace=workspace, started_by=None, purpose="turn", runtime="runc", image="x", owner=""
    )
    for duration in durations:
        execution = sandbox_services.execution_create(session=session, kind="python", source="x")
        sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=duration)
    return session


def test_the_meter_says_why_once_finished_and_running_time_reach_the_allowance(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("5"))
    session = open_with(team.workspace, [3000])
    meter = Meter(workspace=team.workspace)

    assert meter.stop_reason(session_id=session.pk, running_ms=1999) == ""
    assert meter.stop_reason(session_id=session.pk, running_ms=2000).startswith(
        "the credit ran out. This workspace has no credits left."
    )


def test_the_meter_of_an_agent_stops_at_its_budget(funded, agent):
    agent_budget_set(agent_id=agent.pk, monthly_budget=Decimal("2"))
    session = open_with(funded.workspace, [1000])

    with_agent = Meter(workspace=funded.workspace, agent_id=agent.pk)
    without = Meter(workspace=funded.workspace)

    assert "The agent Analyst has used its monthly" in with_agent.stop_reason(
        session_id=session.pk, running_ms=1000
    )
    assert without.stop_reason(session_id=session.pk, running_ms=1000) == ""


def test_a_gated_meter_is_refused_without_credit(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("0"))
    with pytest.raises(OutOfCredit, match="This workspace has no credits left"):
        gated_meter(workspace=team.workspace)


def test_budget_alerts_count_what_the_open_session_has_used(funded):
    BillingSettings.objects.create(workspace=funded.workspace, monthly_budget=Decimal("10"))
    session = open_with(funded.workspace, [7500])

    assert budget_alerts(workspace=funded.workspace) == []
    [alert] = budget_alerts(workspace=funded.workspace, session_id=session.pk)

    assert alert.startswith("The workspace") and "80 %" in alert
    sandbox_services.sandbox_session_end(session=session, reason="closed")
