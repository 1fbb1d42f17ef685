"""Credit limits of a turn's sessions, the one place their callers (an agent's turn, a
skill's test run) ask: ``session_gate`` before a session opens, a ``Meter`` handed to
the session that stops its code at the boundary (``gated_meter`` does both), and
``budget_alerts`` after each piece of work. The charge itself follows the session's
close (billing.receivers).

A session may spend its allowance: the least of
  - the account's balance, minus what the account's other open sessions have used so
    far (their executions, finished and running, at their workspace's rate);
  - the workspace's monthly budget left, minus its other open sessions' usage;
  - the agent's monthly budget left, minus the usage of its other open sessions.
Each running session sees the others' usage grow, so sessions sharing an account stop
together when the credit is gone, never each spending the whole balance. The session
itself is stopped once its active seconds reach the allowance; the part-second it was
running then is charged rounded up, and the charge's floor (billing.services) keeps the
balance at minus one second's worth at most.

A session is charged to the account bound to it as it opened (billing.services); a
workspace without an active PixelML connection has no allowance at all, and an open
session stops at its next check once its connection is deleted or its key revoked.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from billing import selectors
from billing.models import AgentBudget, BillingSettings, CreditAccount, SessionAccount
from billing.services import budget_alerts_check
from connections.selectors import active_pixelml_connection
from sandbox.containers import SandboxUnavailable
from sandbox.models import Execution, SandboxSession
from workspaces.models import Workspace

ADD_CREDITS = "A workspace admin or the platform operator can add credits."
NO_PIXELML = (
    "Code execution is not available: this workspace has no active PixelML connection. "
    "A workspace admin adds one under Connections."
)
KEY_REVOKED = (
    "This workspace's PixelML key was revoked, which switches code execution off at once. "
    "A workspace admin adds a valid key under Connections."
)
CONNECTION_GONE = (
    "This workspace's PixelML connection was deleted, which switches code execution off "
    "at once. A workspace admin adds one under Connections."
)


class OutOfCredit(SandboxUnavailable):
    """A metered session may not open, or go on: no credit left, or a budget used up."""


def credit_used_up(why: str) -> bool:
    """Whether a refusal or a stop (``why``, as OutOfCredit or a session's stop says
    it) is for credit or a budget used up, not for code execution being switched off."""
    return why[:1].upper() + why[1:] not in (NO_PIXELML, KEY_REVOKED, CONNECTION_GONE)


@dataclass(frozen=True)
class Allowance:
    credits: Decimal
    rate: Decimal
    # Plain words for when it is used up.
    why: str

    @property
    def used_up(self) -> bool:
        return self.credits <= 0

    def seconds(self) -> float:
        """Active seconds the allowance pays for (inf at a rate of zero)."""
        return float("inf") if self.rate <= 0 else float(self.credits / self.rate)


def allowance(*, workspace: Workspace, agent_id: int | None = None, session_id=None) -> Allowance:
    """What a session of the workspace (and agent) may still spend, leaving out the
    session's own usage (``session_id``), which the caller counts. Nothing without an
    active PixelML connection, nor for an open session whose connection went away."""
    rate = selectors.billing_settings_of(workspace=workspace).credits_per_second
    key_id, withdrawn = _paying_key(workspace, session_id)
    if withdrawn:
        return Allowance(Decimal("0"), rate, withdrawn)
    others = _others_usage(key_id, session_id)
    account = CreditAccount.objects.filter(key_id=key_id).first()
    balance = account.balance if account else Decimal("0")
    limits = [
        (
            balance - sum(cost for _, _, cost in others),
            f"This workspace has no credits left. {ADD_CREDITS}",
        )
    ]
    limits += _budget_limits(workspace, agent_id, others)
    credits, why = min(limits, key=lambda limit: limit[0])
    return Allowance(credits, rate, why)


def _paying_key(workspace: Workspace, session_id) -> tuple[int | None, str]:
    """(the key that pays, "") or (None, why no code may run): the key bound to the open
    session ``session_id`` as it opened, while the workspace still has an active PixelML
    connection and that key is not revoked; for a new session, the active key."""
    connection = active_pixelml_connection(workspace=workspace)
    bound = (
        SessionAccount.objects.filter(session_id=session_id)
        .values_list("account__key_id", "account__key__revoked_at")
        .first()
    )
    if bound is not None and bound[1] is not None:
        return None, KEY_REVOKED
    if connection is None:
        return None, CONNECTION_GONE if bound is not None else NO_PIXELML
    return (bound[0] if bound is not None else connection.pixelml_key_id), ""


def _budget_limits(workspace: Workspace, agent_id: int | None, others) -> list:
    limits = []
    row = BillingSettings.objects.filter(workspace=workspace).first()
    if row is not None and row.monthly_budget is not None:
        running = sum(cost for ws, _, cost in others if ws == workspace.pk)
        used = selectors.month_usage(workspace=workspace)
        limits.append(
            (
                row.monthly_budget - used - running,
                f"This workspace has used its monthly budget of "
                f"{_credits(row.monthly_budget)} credits. A workspace admin can raise it.",
            )
        )
    budget = AgentBudget.objects.filter(agent_id=agent_id).select_related("agent").first()
    if budget is not None:
        running = sum(cost for _, agent, cost in others if agent == agent_id)
        used = selectors.month_usage(workspace=workspace, agent_id=agent_id)
        limits.append(
            (
                budget.monthly_budget - used - running,
                f"The agent {budget.agent.name} has used its monthly budget of "
                f"{_credits(budget.monthly_budget)} credits. A workspace admin can raise it.",
            )
        )
    return limits


def _others_usage(key_id: int, session_id) -> list[tuple[int, int | None, Decimal]]:
    """(workspace id, agent id, credits so far) of the key's other open sessions."""
    # Opened before bindings existed: the workspace's key is taken to pay.
    unbound = Q(billing_account__isnull=True, workspace__connections__pixelml_key_id=key_id)
    sessions = (
        SandboxSession.objects.filter(status=SandboxSession.Status.OPEN)
        .filter(Q(billing_account__account__key_id=key_id) | unbound)
        .exclude(pk=session_id)
    )
    ids = dict(sessions.values_list("pk", "workspace_id"))
    if not ids:
        return []
    now, used = timezone.now(), dict.fromkeys(ids, 0)
    for execution in Execution.objects.filter(session_id__in=ids):
        used[execution.session_id] += selectors.execution_charged_ms(execution=execution, now=now)
    agents = dict(
        SandboxSession.objects.filter(pk__in=ids, turns__isnull=False).values_list(
            "pk", "turns__conversation__agent_id"
        )
    )
    rates = dict(
        BillingSettings.objects.filter(workspace_id__in=set(ids.values())).values_list(
            "workspace_id", "credits_per_second"
        )
    )
    return [
        (ws, agents.get(pk), selectors.credits_for(active_ms=used[pk], rate=rates.get(ws, 1)))
        for pk, ws in ids.items()
    ]


def session_gate(*, workspace: Workspace, agent_id: int | None = None) -> None:
    """Raises OutOfCredit, in words for the person, when a new session may not open."""
    found = allowance(workspace=workspace, agent_id=agent_id)
    if found.used_up:
        raise OutOfCredit(found.why)


class Meter:
    """Watches one open session of a workspace (and agent): asked now and then while its
    code runs (sandbox.allowance.Meter), says when its credit has run out."""

    def __init__(self, *, workspace: Workspace, agent_id: int | None = None):
        self.workspace = workspace
        self.agent_id = agent_id

    def stop_reason(self, *, session_id, running_ms: int) -> str:
        """Why the session must stop, once its finished executions plus ``running_ms``
        of the current one have reached its allowance, or its PixelML connection went
        away; "" until then. Said after "Stopped: "."""
        found = allowance(workspace=self.workspace, agent_id=self.agent_id, session_id=session_id)
        finished = Execution.objects.filter(
            session_id=session_id, duration_ms__isnull=False
        ).values_list("duration_ms", flat=True)
        if found.why in (KEY_REVOKED, CONNECTION_GONE):
            return found.why[:1].lower() + found.why[1:]  # said after "Stopped: "
        if (sum(finished) + running_ms) / 1000 < found.seconds():
            return ""
        return f"the credit ran out. {found.why}"


def gated_meter(*, workspace: Workspace, agent_id: int | None = None) -> Meter:
    """The meter of a new session, once the gate let it open (else OutOfCredit)."""
    session_gate(workspace=workspace, agent_id=agent_id)
    return Meter(workspace=workspace, agent_id=agent_id)


def budget_alerts(
    *, workspace: Workspace, agent_id: int | None = None, session_id=None
) -> list[str]:
    """The 80 % alerts of the monthly budgets due now (billing.services), counting what
    the open session ``session_id`` has used and not been charged yet."""
    pending = Decimal("0")
    session = SandboxSession.objects.filter(pk=session_id, status=SandboxSession.Status.OPEN)
    if session_id is not None and (open_session := session.first()) is not None:
        rate = selectors.billing_settings_of(workspace=workspace).credits_per_second
        active_ms = selectors.session_active_ms(session=open_session)
        pending = selectors.credits_for(active_ms=active_ms, rate=rate)
    return budget_alerts_check(workspace=workspace, agent_id=agent_id, pending=pending)


def _credits(value: Decimal) -> str:
    return f"{value.normalize():f}"
