"""Writes of the credit ledger. Every change is a new entry, written with the account's
cached balance in one transaction, under a row lock on the account: concurrent writers
of one account queue, so no update is lost and an idempotency key is checked by one
writer at a time.

The rule for usage (docs/billing.md): a session is charged ``ceil(active_ms / 1000) *
rate`` once, when it has ended; a charge never takes the balance below minus one
second's worth (the time past that is forgiven and the entry's label says so).
"""

import logging
import uuid
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing import selectors
from billing.models import (
    AgentBudget,
    BillingSettings,
    CreditAccount,
    LedgerEntry,
    SessionAccount,
)
from connections.models import PixelMLKey
from connections.selectors import active_pixelml_connection, pixelml_connection
from connections.services import pixelml_key_issue
from sandbox.models import SandboxSession
from workspaces.models import User, Workspace

logger = logging.getLogger(__name__)

MAX_AMOUNT = Decimal("1000000000")
# A rate of 0 would make code free and credit limits meaningless.
MIN_RATE, MAX_RATE = Decimal("0.001"), Decimal("1000")
# Balances stay within the ledger's columns (14 digits, 3 of them decimals).
MAX_BALANCE = Decimal("10") ** 11
CREDIT_KINDS = (LedgerEntry.Kind.GRANT, LedgerEntry.Kind.PURCHASE, LedgerEntry.Kind.REFUND)
NO_ACCOUNT = (
    "This workspace has no active PixelML connection, so it has no credit account: "
    "a workspace admin adds one under Connections first."
)


# --- Accounts and entries ---------------------------------------------------------------


def _account_locked(key: PixelMLKey) -> CreditAccount:
    """The key's account, created on first use, locked until the transaction ends."""
    if not CreditAccount.objects.filter(key=key).exists():
        try:
            with transaction.atomic():
                CreditAccount.objects.create(key=key)
        except IntegrityError:
            pass  # another writer created it a moment ago
    return CreditAccount.objects.select_for_update().get(key=key)


def _entry_add(account: CreditAccount, **fields) -> LedgerEntry:
    """Adds one entry and moves the cached balance with it; the account must be locked."""
    if abs(account.balance + fields["amount"]) >= MAX_BALANCE:
        raise ValidationError({"amount": "That would take the balance past 100 billion credits."})
    entry = LedgerEntry.objects.create(account=account, **fields)
    account.balance += entry.amount
    account.save(update_fields=["balance"])
    return entry


# --- Keys and grants ---------------------------------------------------------------------


@transaction.atomic
def pixelml_key_issue_funded(
    *, name: str, credits: Decimal | None = None, created_by: User | None = None
) -> tuple[PixelMLKey, str]:
    """Issues a PixelML key with its credit account, listed from now on, and grants it
    ``credits`` to start with, so that the first run does not fail for want of them.
    Returns the key and its plaintext, which exists only in this return."""
    key, plaintext = pixelml_key_issue(name=name, created_by=created_by)
    _account_locked(key)
    if credits:
        account_grant(
            key=key,
            amount=credits,
            reason="Starting credits, granted with the key",
            granted_by=created_by,
            idempotency_key=f"grant:start:{key.pk}",
        )
    return key, plaintext


def _checked_amount(amount, kind: str) -> Decimal:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationError({"amount": f"“{amount}” is not a number of credits."}) from None
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise ValidationError({"amount": "Give a number of credits below one billion."})
    if value != value.quantize(Decimal("0.001")):
        raise ValidationError({"amount": "Credits have at most three decimal places."})
    if kind in CREDIT_KINDS and value <= 0:
        raise ValidationError({"amount": f"A {kind} adds credits: give a positive amount."})
    if value == 0:
        raise ValidationError({"amount": "An adjustment of zero changes nothing."})
    return value


def credit_grant(
    *,
    workspace: Workspace,
    amount: Decimal,
    reason: str,
    granted_by: User | None,
    kind: str = LedgerEntry.Kind.GRANT,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Adds credits (or, for an adjustment, takes some) to the account of the workspace's
    active PixelML key. With an idempotency key already used, returns that entry."""
    connection = active_pixelml_connection(workspace=workspace)
    return account_grant(
        key=connection.pixelml_key if connection else None,
        workspace=workspace,
        amount=amount,
        reason=reason,
        granted_by=granted_by,
        kind=kind,
        idempotency_key=idempotency_key,
    )


@transaction.atomic
def account_grant(
    *,
    key: PixelMLKey | None,
    amount: Decimal,
    reason: str,
    granted_by: User | None,
    kind: str = LedgerEntry.Kind.GRANT,
    idempotency_key: str | None = None,
    workspace: Workspace | None = None,
) -> LedgerEntry:
    """The same on a PixelML key's account, whichever workspaces use it (the operator
    console grants this way)."""
    if kind not in (*CREDIT_KINDS, LedgerEntry.Kind.ADJUSTMENT):
        raise ValidationError({"kind": f"Credits cannot be granted as “{kind}”."})
    value = _checked_amount(amount, kind)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: every change of credits keeps its reason."})
    if key is None:
        raise ValidationError(NO_ACCOUNT)
    entry_key = idempotency_key or f"{kind}:{uuid.uuid4()}"
    account = _account_locked(key)
    if (existing := LedgerEntry.objects.filter(idempotency_key=entry_key).first()) is not None:
        return existing
    target = workspace.name if workspace else key.name
    return _entry_add(
        account,
        kind=kind,
        amount=value,
        idempotency_key=entry_key,
        reason=reason,
        created_by=granted_by,
        workspace=workspace,
        label=f"{LedgerEntry.Kind(kind).label} to {target}"[:300],
    )


# --- Usage ------------------------------------------------------------------------------


def session_account_bind(*, session: SandboxSession) -> SessionAccount | None:
    """Binds a workspace's opening session to the account of the workspace's active
    PixelML key, which pays for it whatever happens to the connection later. None for
    a session without a workspace or a workspace without an active key (metered
    callers refuse those before opening: billing.metering)."""
    if session.workspace_id is None:
        return None
    connection = active_pixelml_connection(workspace=session.workspace)
    if connection is None:
        return None
    with transaction.atomic():
        account = _account_locked(connection.pixelml_key)
        binding, _ = SessionAccount.objects.get_or_create(
            session=session, defaults={"account": account}
        )
    return binding


def _paying_key(session: SandboxSession) -> PixelMLKey | None:
    """The key bound to the session as it opened; for a session opened before bindings
    existed, the workspace's PixelML key now."""
    binding = SessionAccount.objects.filter(session=session).select_related("account__key")
    if (found := binding.first()) is not None:
        return found.account.key
    connection = pixelml_connection(workspace=session.workspace)
    return connection.pixelml_key if connection is not None else None


def session_charge(*, session_id) -> LedgerEntry | None:
    """Charges an ended session of a workspace once, to the account bound as it opened;
    a second call returns the first entry. None when there is nothing to charge: no
    workspace (operator runs), still open, no active time (no entry for 0 ms), or no
    account (an unbound session whose workspace has no PixelML key)."""
    session = SandboxSession.objects.select_related("workspace", "started_by").get(pk=session_id)
    if session.workspace is None or session.status != SandboxSession.Status.CLOSED:
        return None
    active_ms = selectors.session_active_ms(session=session)
    if active_ms <= 0:
        return None
    key = _paying_key(session)
    if key is None:
        logger.warning("Session %s cannot be charged: it has no account.", session.pk)
        return None
    entry = _usage_write(session, key, active_ms)
    budget_alerts_check(workspace=session.workspace, agent_id=entry.agent_id)
    return entry


@transaction.atomic
def _usage_write(session: SandboxSession, key: PixelMLKey, active_ms: int) -> LedgerEntry:
    idempotency_key = selectors.usage_key(session.pk)
    account = _account_locked(key)
    if (
        existing := LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    ) is not None:
        return existing
    rate = selectors.billing_settings_of(workspace=session.workspace).credits_per_second
    cost = selectors.credits_for(active_ms=active_ms, rate=rate)
    # The floor: one second's worth below zero, however late the stop came.
    charged = max(min(cost, account.balance + rate), Decimal("0"))
    turn = selectors.session_turn(session=session)
    conversation = turn.conversation if turn else None
    return _entry_add(
        account,
        kind=LedgerEntry.Kind.USAGE,
        amount=-charged,
        idempotency_key=idempotency_key,
        reason="Active sandbox time",
        workspace=session.workspace,
        session=session,
        turn=turn,
        agent=conversation.agent if conversation else None,
        user=conversation.user if conversation else session.started_by,
        active_ms=active_ms,
        rate=rate,
        label=_usage_label(session, turn, active_ms, forgiven=cost - charged),
    )


def _usage_label(session: SandboxSession, turn, active_ms: int, forgiven: Decimal) -> str:
    what = (
        f"{turn.conversation.agent.name}, turn {turn.index}"
        if turn
        else f"{session.purpose or 'sandbox'} session"
    )
    label = f"{what}: {active_ms / 1000:.1f} s active"
    if forgiven > 0:
        label += f" ({forgiven} credits past the credit limit not charged)"
    return label[:300]


def sessions_unbilled_charge(*, limit: int = 500) -> int:
    """Reconciliation: charges ended sessions that were never charged (a worker died
    before its close, or its charge failed). Returns how many it charged."""
    charged = 0
    for session_id in selectors.sessions_unbilled().values_list("pk", flat=True)[:limit]:
        try:
            if session_charge(session_id=session_id) is not None:
                charged += 1
        except Exception:
            logger.exception("Session %s could not be charged; the next run retries.", session_id)
    if charged:
        logger.info("Reconciliation charged %d unbilled sandbox sessions.", charged)
    return charged


# --- Settings and budgets ---------------------------------------------------------------


@transaction.atomic
def billing_settings_update(
    *, workspace: Workspace, credits_per_second: Decimal, monthly_budget: Decimal | None
) -> BillingSettings:
    errors = {}
    if credits_per_second is None or not MIN_RATE <= credits_per_second <= MAX_RATE:
        errors["credits_per_second"] = (
            f"The rate is a number of credits per second from {MIN_RATE} to {MAX_RATE}."
        )
    if monthly_budget is not None and monthly_budget <= 0:
        errors["monthly_budget"] = (
            "A budget is a positive number of credits; leave it empty for none."
        )
    if errors:
        raise ValidationError(errors)
    row, _ = BillingSettings.objects.select_for_update().get_or_create(workspace=workspace)
    row.credits_per_second = credits_per_second
    if row.monthly_budget != monthly_budget:
        row.budget_alerted_month = None  # a new budget gets its own 80 % alert
    row.monthly_budget = monthly_budget
    row.save()
    return row


@transaction.atomic
def agent_budget_set(*, agent_id: int, monthly_budget: Decimal | None) -> AgentBudget | None:
    """Sets an agent's monthly budget; None removes it."""
    if monthly_budget is None:
        AgentBudget.objects.filter(agent_id=agent_id).delete()
        return None
    if monthly_budget <= 0:
        raise ValidationError(
            {"monthly_budget": "A budget is a positive number of credits; leave it empty for none."}
        )
    budget, _ = AgentBudget.objects.select_for_update().get_or_create(
        agent_id=agent_id, defaults={"monthly_budget": monthly_budget}
    )
    if budget.monthly_budget != monthly_budget:
        budget.monthly_budget, budget.budget_alerted_month = monthly_budget, None
        budget.save()
    return budget


ALERT_SHARE = Decimal("0.8")


def budget_alerts_check(
    *, workspace: Workspace, agent_id: int | None = None, pending: Decimal = Decimal("0")
) -> list[str]:
    """Gives the 80 % alert of the workspace's and the agent's monthly budgets, once per
    month each: records it, logs it, and returns its words (empty when none is due).
    ``pending`` is usage not charged yet (a session still running)."""
    alerts = []
    settings_row = BillingSettings.objects.filter(workspace=workspace).first()
    if settings_row is not None and settings_row.monthly_budget:
        used = selectors.month_usage(workspace=workspace) + pending
        if _alert_due(settings_row, used):
            alerts.append(_alert_words(f"The workspace {workspace.name}", used, settings_row))
    budget = selectors.agent_budget_of(agent_id=agent_id) if agent_id is not None else None
    if budget is not None:
        used = selectors.month_usage(workspace=workspace, agent_id=agent_id) + pending
        if _alert_due(budget, used):
            alerts.append(_alert_words(f"The agent {budget.agent.name}", used, budget))
    for alert in alerts:
        logger.warning("Budget alert in workspace %s: %s", workspace.slug, alert)
    return alerts


def _alert_due(row: BillingSettings | AgentBudget, used: Decimal) -> bool:
    """True once per month per budget: the conditional update lets one caller win."""
    month = selectors.month_start().date()
    if used < row.monthly_budget * ALERT_SHARE or row.budget_alerted_month == month:
        return False
    unalerted = type(row).objects.filter(pk=row.pk).exclude(budget_alerted_month=month)
    won = unalerted.update(budget_alerted_month=month) == 1
    row.budget_alerted_month = month
    return won


def _alert_words(who: str, used: Decimal, row) -> str:
    share = int(used / row.monthly_budget * 100)
    figures = f"({used.normalize():f} of {row.monthly_budget.normalize():f} credits)"
    if share >= 100:
        return f"{who} has used all of its monthly budget {figures}: code stops running."
    return (
        f"{who} has used {share} % of its monthly budget {figures} this month; at 100 % "
        "code stops running."
    )
