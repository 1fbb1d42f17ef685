"""Reconciliation: sessions a dead worker left uncharged are charged later, once, by the
reaper, the ``billing_reconcile`` command or its Celery task."""

import os
import socket
import subprocess
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import LedgerEntry
from billing.selectors import account_check, account_of_workspace
from billing.services import sessions_unbilled_charge
from sandbox import reaper
from sandbox import services as sandbox_services
from sandbox.models import SandboxSession
from tests.billing.conftest import ended_session
from tests.config.test_settings import ROOT
from tests.conftest import database_url
from tests.sandbox.engine import container_exists

DEAD_OWNER = f"{socket.gethostname()}/999999999/1"

WORKER = """
import time
from sandbox.session import Session, run_to_end
from workspaces.models import Workspace
session = Session.open(workspace=Workspace.objects.get(pk={pk}), purpose="turn")
run_to_end(session.python("import time; time.sleep(1.5)"))
print(session.record.pk, flush=True)
time.sleep(300)
"""


@pytest.mark.usefixtures("sandbox_image", "transactional_db")
def test_a_worker_killed_after_running_code_is_charged_once_by_the_reaper(funded):
    env = dict(os.environ, DATABASE_URL=database_url(), TURNBOX_SANDBOX_POOL_SIZE="0")
    code = WORKER.format(pk=funded.workspace.pk)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        session_id = process.stdout.readline().strip()
    finally:
        process.kill()  # no clean-up of its own: a crash
        process.wait()
    session = SandboxSession.objects.get(pk=session_id)
    assert session.status == "open" and not LedgerEntry.objects.filter(kind="usage").exists()

    reaper.reap()
    reaper.reap()

    session.refresh_from_db()
    assert session.end_reason == "reaped" and not container_exists(session.container_name)
    entry = LedgerEntry.objects.get(kind="usage")
    assert entry.session == session and 1500 <= entry.active_ms < 2000
    assert entry.amount == Decimal("-2")
    assert account_check(account=entry.account)


@pytest.mark.django_db
def test_the_command_closes_orphaned_records_and_charges_what_was_never_charged(funded):
    crashed = ended_session(funded.workspace, [1200])
    orphan = sandbox_services.sandbox_session_create(
        workspace=funded.workspace, started_by=None, purpose="turn", runtime="runc", image="x",
        owner=DEAD_OWNER,
    )  # fmt: skip
    execution = sandbox_services.execution_create(session=orphan, kind="shell", source="ls")
    sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=300)
    out = StringIO()

    call_command("billing_reconcile", stdout=out)
    call_command("billing_reconcile", stdout=StringIO())

    assert out.getvalue() == "closed 1 orphaned session(s), charged 2 session(s)\n"
    charged = LedgerEntry.objects.filter(kind="usage")
    assert {e.session_id for e in charged} == {crashed.pk, orphan.pk}
    assert account_of_workspace(workspace=funded.workspace).balance == Decimal("97")


def run_task() -> str:
    """Runs the Celery task in a process of its own, as a worker would: Celery's task
    registry is per process, and this one's belongs to the other tests."""
    env = dict(os.environ, DATABASE_URL=database_url(), TURNBOX_SANDBOX_POOL_SIZE="0")
    code = "from billing.tasks import billing_reconcile; print(billing_reconcile.apply().get())"
    command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", code]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_charges_unbilled_sessions(funded):
    ended_session(funded.workspace, [800])

    assert run_task() == "1"
    assert run_task() == "0"
    assert LedgerEntry.objects.get(kind="usage").amount == Decimal("-1")


@pytest.mark.django_db
def test_a_session_of_a_workspace_without_pixelml_is_left_alone(team):
    ended_session(team.workspace, [800])

    assert sessions_unbilled_charge() == 0
    assert not LedgerEntry.objects.exists()
