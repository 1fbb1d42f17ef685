"""The demo starts with credits, so the README's first command gives a working
playground; seeding again grants nothing more."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import LedgerEntry
from billing.selectors import workspace_balance
from portal.demo import DEMO_CREDITS
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_the_demo_gets_its_starting_credits_once(settings):
    settings.DEMO_PASSWORD = "demo-pass-for-tests"

    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    demo = Workspace.objects.get(slug="demo")
    assert workspace_balance(workspace=demo) == Decimal(DEMO_CREDITS) > 0
    grant = LedgerEntry.objects.get(workspace=demo)
    assert grant.kind == "grant" and grant.created_by.email == "admin@example.com"
