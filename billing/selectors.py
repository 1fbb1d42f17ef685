from decimal import Decimal

from django.db.models import Sum

from billing.models import BillingSettings, CreditAccount, LedgerEntry
from connections.selectors import active_pixelml_connection
from workspaces.models import Workspace


def account_of_workspace(*, workspace: Workspace) -> CreditAccount | None:
    """The credit account of the workspace's active PixelML key (None without one, or
    before the key's first entry)."""
    connection = active_pixelml_connection(workspace=workspace)
    if connection is None:
        return None
    return CreditAccount.objects.filter(key_id=connection.pixelml_key_id).first()


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
