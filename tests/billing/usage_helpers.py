"""Charged turns for the report tests: recorded sandbox sessions and executions, charged
by billing.services.session_charge as a real session close charges them."""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from agents.models import Agent, Conversation, Turn
from billing.models import LedgerEntry
from billing.services import credit_grant, session_charge
from sandbox.models import Execution, SandboxSession
from tests.agents.conftest import give_pixelml


def paid(team, credits: str = "100000") -> None:
    give_pixelml(team.workspace, team.admin)
    credit_grant(
        workspace=team.workspace, amount=Decimal(credits), reason="test credits",
        granted_by=team.admin,
    )  # fmt: skip


def conversation_of(team, *, agent_name: str = "Direct", user=None, title: str = ""):
    agent, _ = Agent.objects.get_or_create(
        workspace=team.workspace, name=agent_name, defaults={"code_execution": True}
    )
    return Conversation.objects.create(
        workspace=team.workspace, agent=agent, user=user or team.member, title=title
    )


def charged_turn(
    conversation: Conversation, durations_ms: list[int], *, at: datetime | None = None,
    kinds: list[str] | None = None,
) -> tuple[Turn, LedgerEntry]:  # fmt: skip
    """A finished turn whose closed session ran executions of these durations, charged.
    ``at`` places the charge on a chosen moment (for the tests of days and periods)."""
    now = timezone.now()
    session = SandboxSession.objects.create(
        workspace=conversation.workspace, started_by=conversation.user, purpose="turn",
        runtime="runc", image="test", status=SandboxSession.Status.CLOSED,
        end_reason=SandboxSession.EndReason.CLOSED, closed_at=now,
    )  # fmt: skip
    for i, ms in enumerate(durations_ms):
        Execution.objects.create(
            session=session, kind=(kinds or [])[i] if kinds else Execution.Kind.PYTHON,
            source=f"print({i})", status=Execution.Status.OK, ended_at=now, duration_ms=ms,
        )  # fmt: skip
    turn = Turn.objects.create(
        conversation=conversation, index=conversation.turns.count() + 1, user_message="run it",
        status=Turn.Status.ANSWERED, sandbox_session=session, started_at=now, ended_at=now,
    )  # fmt: skip
    entry = session_charge(session_id=session.pk)
    if at is not None:
        LedgerEntry.objects.filter(pk=entry.pk).update(created_at=at)
        entry.refresh_from_db()
    return turn, entry
