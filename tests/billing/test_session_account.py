"""A session is charged to the account that opened it: the account is bound as the
session opens, so deleting or replacing the workspace's PixelML connection afterwards
changes nothing about who pays, and the reconciler finds such a session too. Without an
active connection no metered session opens at all."""

import threading
import time
from decimal import Decimal

import pytest

from billing.metering import (
    CONNECTION_GONE,
    KEY_REVOKED,
    NO_PIXELML,
    Meter,
    OutOfCredit,
    session_gate,
)
from billing.models import CreditAccount, LedgerEntry, SessionAccount
from billing.services import sessions_unbilled_charge
from connections import services as connection_services
from connections.models import Connection
from sandbox import services as sandbox_services
from sandbox import signals
from sandbox.models import SandboxSession
from sandbox.session import run_to_end
from tests.agents.conftest import give_pixelml
from tests.billing.conftest import metered_session


def paying_account(workspace) -> CreditAccount:
    key = Connection.objects.get(workspace=workspace, kind="pixelml").pixelml_key
    return CreditAccount.objects.get(key=key)


def opened_record(workspace, durations: list[int]) -> SandboxSession:
    """A session opened as the engine opens one (its opening announced), that ran
    executions of these durations and is still open."""
    session = sandbox_services.sandbox_session_create(
        workspace=workspace, started_by=None, purpose="turn", runtime="runc", image="x", owner=""
    )
    signals.session_opened.send(sender=SandboxSession, session=session)
    for duration in durations:
        execution = sandbox_services.execution_create(session=session, kind="python", source="x")
        sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=duration)
    return session


def pixelml_delete(workspace) -> None:
    connection = Connection.objects.get(workspace=workspace, kind="pixelml")
    connection_services.connection_delete(connection=connection)


@pytest.mark.django_db
def test_the_reconciler_charges_a_closed_session_whose_connection_was_deleted(funded):
    account = paying_account(funded.workspace)
    session = opened_record(funded.workspace, [2500])
    pixelml_delete(funded.workspace)
    # Its worker died before the close could charge it.
    sandbox_services.sandbox_session_end(session=session, reason="reaped")

    assert sessions_unbilled_charge() == 1
    assert sessions_unbilled_charge() == 0

    entry = LedgerEntry.objects.get(kind="usage", session=session)
    assert entry.account == account and entry.amount == Decimal("-3")
    account.refresh_from_db()
    assert account.balance == Decimal("97")


@pytest.mark.django_db
def test_a_new_connection_with_another_key_does_not_pay_for_an_older_session(funded):
    first = paying_account(funded.workspace)
    session = opened_record(funded.workspace, [1000])
    pixelml_delete(funded.workspace)
    give_pixelml(funded.workspace, funded.admin, credits=Decimal("50"))
    second = paying_account(funded.workspace)
    sandbox_services.sandbox_session_end(session=session, reason="closed")
    signals.session_closed_announce(session=session)

    assert LedgerEntry.objects.get(kind="usage", session=session).account == first
    second.refresh_from_db()
    assert second.balance == Decimal("50") and first != second


@pytest.mark.django_db
def test_a_session_is_bound_to_the_active_key_as_it_opens(funded, other_team):
    session = opened_record(funded.workspace, [])
    unpaid = opened_record(other_team.workspace, [])  # no PixelML: nothing to bind

    assert SessionAccount.objects.get(session=session).account == paying_account(funded.workspace)
    assert not SessionAccount.objects.filter(session=unpaid).exists()


@pytest.mark.django_db
def test_no_metered_session_opens_once_the_connection_is_gone(funded):
    """A turn checked PixelML as it started; the connection deleted before its first code
    call must not leave that code unmetered."""
    pixelml_delete(funded.workspace)

    with pytest.raises(OutOfCredit) as refused:
        session_gate(workspace=funded.workspace)
    assert str(refused.value) == NO_PIXELML


@pytest.mark.django_db
@pytest.mark.parametrize("withdraw", ["delete", "revoke"])
def test_the_meter_stops_an_open_session_once_its_connection_is_withdrawn(funded, withdraw):
    session = opened_record(funded.workspace, [1000])
    meter = Meter(workspace=funded.workspace)
    assert meter.stop_reason(session_id=session.pk, running_ms=0) == ""

    if withdraw == "delete":
        pixelml_delete(funded.workspace)
        expected = CONNECTION_GONE
    else:
        connection_services.pixelml_key_revoke(key=paying_account(funded.workspace).key)
        expected = KEY_REVOKED

    reason = meter.stop_reason(session_id=session.pk, running_ms=0)
    assert reason == expected[:1].lower() + expected[1:]


@pytest.mark.usefixtures("sandbox_image", "transactional_db")
@pytest.mark.parametrize("withdraw", ["delete", "revoke"])
def test_code_stops_at_once_when_the_connection_goes_and_what_ran_is_charged(funded, withdraw):
    account = paying_account(funded.workspace)
    with metered_session(funded.workspace, purpose="turn") as session:
        statuses = []
        running = threading.Thread(
            target=lambda: statuses.append(
                run_to_end(session.python("import time\nfor _ in range(200): time.sleep(0.05)"))
            )
        )
        running.start()
        time.sleep(1.5)
        if withdraw == "delete":
            pixelml_delete(funded.workspace)
        else:
            connection_services.pixelml_key_revoke(key=account.key)
        running.join(30)

    [status] = statuses
    assert status["status"] == "killed"
    assert "switches code execution off at once" in status["message"]
    execution = session.record.executions.get()
    # Stopped within a check of the withdrawal, not at the end of its 10 s of work.
    assert 1500 <= execution.duration_ms < 4000
    entry = LedgerEntry.objects.get(kind="usage", session=session.record)
    assert entry.account == account and entry.active_ms == execution.duration_ms
    assert entry.amount == -Decimal(-(-execution.duration_ms // 1000))
