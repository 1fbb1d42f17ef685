"""Credit operations an operator can run: a key is issued with starting credits (command
and console) and runs code at once; every key's account is listed from its issue with
its balance and a grant action; a PixelML connection's Test tells the balance and warns
when it is empty."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from billing.metering import session_gate
from billing.models import CreditAccount, LedgerEntry
from billing.services import pixelml_key_issue_funded
from connections import selectors as connection_selectors
from connections.models import Connection, PixelMLKey
from connections.services import connection_create
from workspaces.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@turnbox.test", "x" * 16))
    return client


def test_the_command_issues_a_key_with_starting_credits_that_runs_code_at_once(team):
    out, err = StringIO(), StringIO()
    call_command("issue_pixelml_key", "--name", "Acme", "--credits", "250", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    assert "with 250 credits" in err.getvalue()

    connection_create(workspace=team.workspace, kind="pixelml", name="PixelML", secret=plaintext)

    key = connection_selectors.pixelml_key_find(key=plaintext)
    assert CreditAccount.objects.get(key=key).balance == Decimal("250")
    [entry] = LedgerEntry.objects.all()
    assert (entry.kind, entry.reason) == ("grant", "Starting credits, granted with the key")
    session_gate(workspace=team.workspace)  # no "no credits left": code may run


def test_a_key_issued_without_credits_has_its_account_listed_at_once(operator):
    call_command("issue_pixelml_key", "--name", "Initech", stdout=StringIO(), stderr=StringIO())

    page = operator.get("/operator/billing/creditaccount/").content.decode()

    assert "Initech" in page and "Grant credits" in page
    assert CreditAccount.objects.get(key__name="Initech").balance == 0


def test_the_command_refuses_credits_that_are_not_a_positive_number(db):
    with pytest.raises(CommandError, match="A grant adds credits: give a positive amount"):
        call_command("issue_pixelml_key", "--name", "X", "--credits", "-5", stdout=StringIO())
    # Nothing half-issued: no key without its credits.
    assert not PixelMLKey.objects.exists() and not CreditAccount.objects.exists()


def test_the_console_issues_a_key_with_starting_credits(operator):
    response = operator.post(
        "/operator/connections/pixelmlkey/add/", {"name": "Globex", "credits": "75.5"}, follow=True
    )

    plaintext = re.search(r"pxm_[A-Za-z0-9_-]{43}", response.content.decode()).group(0)
    key = connection_selectors.pixelml_key_find(key=plaintext)
    account = CreditAccount.objects.get(key=key)
    assert account.balance == Decimal("75.5")
    assert LedgerEntry.objects.get(account=account).created_by.email == "ops@turnbox.test"
    listed = operator.get("/operator/billing/creditaccount/").content.decode()
    assert "Globex" in listed and "75.500" in listed


def test_the_console_key_form_asks_for_starting_credits(operator):
    page = operator.get("/operator/connections/pixelmlkey/add/").content.decode()
    assert 'name="credits"' in page and "Starting credits" in page


@pytest.mark.parametrize(
    ("credits", "level", "words"),
    [("40", "success", "Balance: 40 credits."), ("0", "warning", "has no credits (0)")],
)
def test_the_connection_test_tells_the_balance_and_warns_when_empty(
    team, client_for, credits, level, words
):
    _, plaintext = pixelml_key_issue_funded(name="Acme", credits=Decimal(credits))
    connection = connection_create(
        workspace=team.workspace, kind="pixelml", name="PixelML", secret=plaintext
    )

    response = client_for(team.admin).post(
        f"/w/acme/connections/{connection.pk}/test/", follow=True
    )

    [message] = list(response.context["messages"])
    assert message.level_tag == level and words in message.message
    connection.refresh_from_db()
    assert words in connection.last_check_message


def test_another_workspace_cannot_test_the_connection(team, other_team, client_for):
    _, plaintext = pixelml_key_issue_funded(name="Acme", credits=Decimal("5"))
    connection = connection_create(
        workspace=team.workspace, kind="pixelml", name="PixelML", secret=plaintext
    )

    response = client_for(other_team.admin).post(f"/w/globex/connections/{connection.pk}/test/")

    assert response.status_code == 404
    assert Connection.objects.get(pk=connection.pk).last_checked_at is None
