"""Reads of credits: balances, settings, what sessions used, and monthly budgets.

Agents appear by id and through the ledger's and budgets' relations only: billing sits
below the agents app and never imports it.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import (
    AgentBudget,
    BillingSettings,
    CreditAccount,
    LedgerEntry,
    SessionAccount,
)
from connections.models import Connection, Kind
from connections.selectors import active_pixelml_connection
from sandbox.models import Execution, SandboxSession
from workspaces.models import Workspace

USAGE_KEY = "usage:session:"


def account_of_workspace(*, workspace: Workspace) -> CreditAccount | None:
    """The credit account of the workspace's active PixelML key (None without one, or
    before the key's first entry)."""
    connection = active_pixelml_connection(workspace=workspace)
    if connection is None:
        return None
    return CreditAccount.objects.filter(key_id=connection.pixelml_key_id).first()


def balance_of_key(*, key) -> Decimal:
    """Credits left on a PixelML key's account (0 before it has one)."""
    account = CreditAccount.objects.filter(key=key).first()
    return account.balance if account is not None else Decimal("0")


def workspace_balance(*, workspace: Workspace) -> Decimal | None:
    """Credits left on the workspace's account; None when it has no active PixelML key."""
    if active_pixelml_connection(workspace=workspace) is None:
        return None
    account = account_of_workspace(workspace=workspace)
    return account.balance if account is not None else Decimal("0")


def account_entries_sum(*, account: CreditAccount) -> Decimal:
    return LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")


def account_check(*, account: CreditAccount) -> bool:
    """True when the cached balance equals the sum of the entries."""
    account.refresh_from_db(fields=["balance"])
    return account.balance == account_entries_sum(account=account)


def billing_settings_of(*, workspace: Workspace) -> BillingSettings:
    """The workspace's settings, or unsaved defaults (rate 1, no budget)."""
    found = BillingSettings.objects.filter(workspace=workspace).first()
    return found or BillingSettings(workspace=workspace)


# --- Metering ---------------------------------------------------------------------------


def execution_charged_ms(*, execution: Execution, now: datetime | None = None) -> int:
    """The ms one execution is charged: its measured wall time, a timed-out one up to its
    limit only (the engine records it so), one still running up to now."""
    if execution.duration_ms is not None:
        return execution.duration_ms
    if execution.status == Execution.Status.RUNNING:
        elapsed = (now or timezone.now()) - execution.started_at
        return max(int(elapsed.total_seconds() * 1000), 0)
    return 0


def session_active_ms(*, session: SandboxSession, now: datetime | None = None) -> int:
    """Active time of a session: the sum of its executions (Python, shell, upload,
    download), never its lifetime."""
    executions = Execution.objects.filter(session=session).only(
        "duration_ms", "status", "started_at"
    )
    return sum(execution_charged_ms(execution=e, now=now) for e in executions)


def credits_for(*, active_ms: int, rate: Decimal) -> Decimal:
    """``ceil(active_ms / 1000) * rate``: a started second is a charged second."""
    return math.ceil(active_ms / 1000) * rate


def session_turn(*, session: SandboxSession):
    """The turn the session ran for (with its conversation's agent and person), if any."""
    return session.turns.select_related("conversation__agent", "conversation__user").first()


def sessions_unbilled() -> QuerySet[SandboxSession]:
    """Closed sessions of a workspace that used time, have an account (bound as they
    opened, whatever became of the connection since; or, opened before bindings, the
    workspace's PixelML key) and no usage entry yet."""
    used = Execution.objects.filter(session=OuterRef("pk"), duration_ms__gt=0)
    billed = LedgerEntry.objects.filter(session=OuterRef("pk"), kind=LedgerEntry.Kind.USAGE)
    bound = SessionAccount.objects.filter(session=OuterRef("pk"))
    keyed = Connection.objects.filter(
        workspace=OuterRef("workspace"), kind=Kind.PIXELML, pixelml_key__isnull=False
    )
    return (
        SandboxSession.objects.filter(status=SandboxSession.Status.CLOSED, workspace__isnull=False)
        .filter(Exists(used))
        .filter(Exists(bound) | Exists(keyed))
        .exclude(Exists(billed))
        .order_by("closed_at")
    )


def usage_key(session_id) -> str:
    return f"{USAGE_KEY}{session_id}"


# --- Budgets ------------------------------------------------------------------------------


def month_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_usage(*, workspace: Workspace, agent_id: int | None = None) -> Decimal:
    """Credits charged this calendar month (positive), to the workspace or one agent."""
    entries = LedgerEntry.objects.filter(
        workspace=workspace, kind=LedgerEntry.Kind.USAGE, created_at__gte=month_start()
    )
    if agent_id is not None:
        entries = entries.filter(agent_id=agent_id)
    return -(entries.aggregate(total=Sum("amount"))["total"] or Decimal("0"))


def agent_budget_of(*, agent_id: int) -> AgentBudget | None:
    """The agent's budget, with the agent (its name is in the alerts)."""
    return AgentBudget.objects.filter(agent_id=agent_id).select_related("agent").first()


def ledger_latest(*, workspace: Workspace, limit: int = 50) -> list[LedgerEntry]:
    """The latest entries of the workspace's account, with who made them and why."""
    account = account_of_workspace(workspace=workspace)
    if account is None:
        return []
    # A key may pay for several workspaces: theirs stay theirs.
    mine = Q(workspace=workspace) | Q(workspace__isnull=True)
    entries = LedgerEntry.objects.filter(mine, account=account).select_related(
        "created_by", "user", "agent", "workspace"
    )
    return list(entries.order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class BudgetLine:
    budget: Decimal | None
    used: Decimal
    alerted: bool

    @property
    def share(self) -> int | None:
        return int(self.used / self.budget * 100) if self.budget else None


def workspace_budget_line(*, workspace: Workspace) -> BudgetLine:
    row = billing_settings_of(workspace=workspace)
    alerted = row.budget_alerted_month == month_start().date()
    return BudgetLine(row.monthly_budget, month_usage(workspace=workspace), alerted)


def agent_budget_lines(*, workspace: Workspace) -> list[tuple[models.Model, BudgetLine]]:
    """Every agent of the workspace with its budget (if any) and this month's usage."""
    budgets = {b.agent_id: b for b in AgentBudget.objects.filter(agent__workspace=workspace)}
    month = month_start().date()
    lines = []
    for agent in workspace.agents.order_by("name"):
        budget = budgets.get(agent.pk)
        line = BudgetLine(
            budget.monthly_budget if budget else None,
            month_usage(workspace=workspace, agent_id=agent.pk),
            budget is not None and budget.budget_alerted_month == month,
        )
        lines.append((agent, line))
    return lines
