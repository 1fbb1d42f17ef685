"""Billing charges what the sandbox engine announces: a session once at its close,
however often the close is heard, and a charge that failed then is made once later."""

from decimal import Decimal

import pytest

from billing import receivers
from billing.models import LedgerEntry
from billing.selectors import account_check, account_of_workspace
from billing.services import sessions_unbilled_charge
from sandbox import services as sandbox_services
from sandbox.reaper import reap
from sandbox.signals import reaped, session_closed
from tests.billing.conftest import ended_session

pytestmark = pytest.mark.django_db


def test_a_closed_session_is_charged_once_however_often_its_close_is_heard(funded):
    session = ended_session(funded.workspace, [2500])

    session_closed.send(sender=None, session=session)
    session_closed.send(sender=None, session=session)

    entry = LedgerEntry.objects.get(kind="usage")
    assert entry.session == session and entry.amount == Decimal("-3")
    assert account_check(account=account_of_workspace(workspace=funded.workspace))


def test_a_charge_that_fails_at_the_close_is_made_once_by_the_reconciliation(
    funded, monkeypatch, caplog
):
    session = ended_session(funded.workspace, [1200])

    def database_away(**_):
        raise ConnectionError("the database is away")

    with monkeypatch.context() as patched:
        patched.setattr(receivers, "session_charge", database_away)
        session_closed.send(sender=None, session=session)  # never raises into the close

    assert "could not be charged at its close" in caplog.text
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert sessions_unbilled_charge() == 1 and sessions_unbilled_charge() == 0
    assert LedgerEntry.objects.get(kind="usage").amount == Decimal("-2")


def test_a_session_without_a_workspace_is_not_charged(funded):
    operator_run = sandbox_services.sandbox_session_create(
        workspace=None, started_by=None, purpose="sandbox_run", runtime="runc", image="x", owner=""
    )
    sandbox_services.sandbox_session_end(session=operator_run, reason="closed")

    session_closed.send(sender=None, session=operator_run)

    assert not LedgerEntry.objects.filter(kind="usage").exists()


def test_after_a_reap_what_was_left_uncharged_is_charged(funded):
    ended_session(funded.workspace, [800])

    reaped.send(sender=reap, names=[])

    assert LedgerEntry.objects.get(kind="usage").amount == Decimal("-1")
