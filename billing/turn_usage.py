"""What one turn cost: its executions, each with its share of the charge, and the
usage entries that charged its sessions (the turn usage page)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from billing.models import LedgerEntry
from billing.selectors import billing_settings_of
from sandbox.models import Execution
from workspaces.models import Workspace

ZERO = Decimal("0")


@dataclass(frozen=True)
class ExecutionLine:
    execution: Execution
    # Its share of the charge before the session's rounding up to a whole second.
    credits: Decimal


@dataclass
class TurnUsage:
    turn: models.Model
    rate: Decimal
    executions: list[ExecutionLine]
    charges: list[LedgerEntry]

    @property
    def charged(self) -> Decimal:
        return -sum((entry.amount for entry in self.charges), ZERO)

    @property
    def active_ms(self) -> int:
        return sum(line.execution.duration_ms or 0 for line in self.executions)


def turn_of_workspace(*, workspace: Workspace, pk):
    """The workspace's turn ``pk`` (with its agent and person), or None: reached through
    its conversation, billing having no model of turns."""
    conversation = workspace.conversations.filter(turns__pk=pk).first()
    if conversation is None:
        return None
    turns = conversation.turns.select_related("conversation__agent", "conversation__user")
    return turns.filter(pk=pk).first()


def turn_usage(*, workspace: Workspace, turn) -> TurnUsage:
    charges = list(
        LedgerEntry.objects.filter(
            workspace=workspace, turn=turn, kind=LedgerEntry.Kind.USAGE
        ).order_by("created_at", "id")
    )
    sessions = {entry.session_id for entry in charges if entry.session_id}
    if turn.sandbox_session_id:
        sessions.add(turn.sandbox_session_id)
    # The rate the turn was charged at; before its charge, the workspace's current rate.
    rate = next((entry.rate for entry in charges if entry.rate is not None), None)
    if rate is None:
        rate = billing_settings_of(workspace=workspace).credits_per_second
    executions = Execution.objects.filter(session_id__in=sessions).order_by("started_at", "id")
    lines = [
        ExecutionLine(execution=e, credits=Decimal(e.duration_ms or 0) / 1000 * rate)
        for e in executions
    ]
    return TurnUsage(turn=turn, rate=rate, executions=lines, charges=charges)
