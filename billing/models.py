"""Credits: one account per PixelML key, an append-only ledger, and the settings that
turn active sandbox time into credits.

Entries are never edited or deleted: grants, purchases, usage charges, refunds and
adjustments are each a new row. The account's ``balance`` is a cache of the sum of
its entries, written in the same transaction as each entry (billing.services) and
checked against the sum by ``billing.selectors.account_check``.

Usage entries name what they charge (workspace, session, turn, agent, user) for the
finance reports; those links are SET_NULL so that deleting a workspace never edits an
amount, and ``label`` keeps a readable trace of what was charged.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from connections.models import PixelMLKey
from workspaces.models import Workspace

CREDIT = dict(max_digits=14, decimal_places=3)


class CreditAccount(models.Model):
    key = models.OneToOneField(PixelMLKey, on_delete=models.PROTECT, related_name="credit_account")
    # Cache of Sum(entries.amount), updated under select_for_update with each entry.
    balance = models.DecimalField(**CREDIT, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # Given by the operator to a person: as a workspace admin they may then grant
        # credits to that workspace on its Billing page.
        permissions = [("grant_credits", "Can grant credits to the workspaces they administer")]

    def __str__(self) -> str:
        return f"credits of {self.key}"


class SessionAccount(models.Model):
    """The account a sandbox session is charged to, bound as the session opens: what
    happens to the workspace's connection afterwards changes nothing about who pays."""

    session = models.OneToOneField(
        "sandbox.SandboxSession", on_delete=models.CASCADE, primary_key=True,
        related_name="billing_account",
    )  # fmt: skip
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="sessions")
    bound_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.session} charged to {self.account}"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        PURCHASE = "purchase", "Purchase"
        USAGE = "usage", "Usage"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Positive adds credit; usage is negative.
    amount = models.DecimalField(**CREDIT)
    # "usage:session:<uuid>" for a session's charge; makes a second charge a no-op.
    idempotency_key = models.CharField(max_length=200, unique=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # What a usage entry charged.
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    session = models.ForeignKey(
        "sandbox.SandboxSession", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="ledger_entries",
    )  # fmt: skip
    turn = models.ForeignKey(
        "agents.Turn", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    active_ms = models.PositiveBigIntegerField(null=True, blank=True)
    rate = models.DecimalField(**CREDIT, null=True, blank=True)
    label = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["workspace", "kind", "created_at"]),
            models.Index(fields=["account", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="usage") | Q(amount__lte=0), name="usage_is_never_a_credit"
            ),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.idempotency_key})"


class BillingSettings(models.Model):
    """A workspace's rate and optional monthly budget (credits; None means no budget)."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="billing_settings"
    )
    credits_per_second = models.DecimalField(**CREDIT, default=Decimal("1"))
    monthly_budget = models.DecimalField(**CREDIT, null=True, blank=True)
    # The month (first day) whose 80 % alert was given already, so it is given once.
    budget_alerted_month = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"billing settings of {self.workspace}"


class AgentBudget(models.Model):
    agent = models.OneToOneField("agents.Agent", on_delete=models.CASCADE, related_name="budget")
    monthly_budget = models.DecimalField(**CREDIT)
    budget_alerted_month = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"monthly budget of {self.agent}"
