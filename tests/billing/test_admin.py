"""Credits in the operator console: grants with a reason, attributed to the operator; the
ledger itself is read-only there."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from billing.models import CreditAccount, LedgerEntry
from workspaces.models import User

pytestmark = pytest.mark.django_db

GRANT = "/operator/billing/creditaccount/grant/"


@pytest.fixture
def operator(client):
    user = User.objects.create_superuser("ops@example.com", "pw-operator-123")
    client.force_login(user)
    return user


def test_the_operator_grants_to_a_key_and_is_named(client, operator, funded):
    account = CreditAccount.objects.get()
    assert client.get(f"{GRANT}?key={account.key_id}").status_code == 200

    response = client.post(
        GRANT, {"key": account.key_id, "kind": "grant", "amount": "50", "reason": "Trial"}
    )

    assert response.status_code == 302
    entry = LedgerEntry.objects.get(reason="Trial")
    assert entry.created_by == operator and entry.amount == Decimal("50")
    account.refresh_from_db()
    assert account.balance == Decimal("150")


def test_the_operator_may_take_credits_back_with_an_adjustment(client, operator, funded):
    account = CreditAccount.objects.get()

    client.post(
        GRANT, {"key": account.key_id, "kind": "adjustment", "amount": "-30", "reason": "Fix"}
    )

    account.refresh_from_db()
    assert account.balance == Decimal("70")


def test_a_grant_without_a_reason_is_refused_and_adds_nothing(client, operator, funded):
    account = CreditAccount.objects.get()

    response = client.post(GRANT, {"key": account.key_id, "kind": "grant", "amount": "5"})

    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert LedgerEntry.objects.count() == 1


def test_staff_without_the_permission_cannot_grant(client, funded):
    staff = User.objects.create_user("staff@example.com", "pw-staff-12345", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_creditaccount"))
    client.force_login(staff)

    response = client.post(
        GRANT, {"key": CreditAccount.objects.get().key_id, "kind": "grant", "amount": "5",
                "reason": "x"},
    )  # fmt: skip

    assert response.status_code == 403
    assert LedgerEntry.objects.count() == 1


def test_ledger_entries_cannot_be_changed_or_deleted_in_the_console(client, operator, funded):
    entry = LedgerEntry.objects.get()
    base = f"/operator/billing/ledgerentry/{entry.pk}"

    assert client.get("/operator/billing/ledgerentry/").status_code == 200
    client.post(f"{base}/change/", {"amount": "999999"})
    assert client.post(f"{base}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/operator/billing/ledgerentry/add/").status_code == 403

    entry.refresh_from_db()
    assert entry.amount == Decimal("100")


def test_the_account_list_shows_whether_the_balance_matches_the_ledger(client, operator, funded):
    page = client.get("/operator/billing/creditaccount/").content.decode()

    assert "Grant credits" in page and 'alt="True"' in page
