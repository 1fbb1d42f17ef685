"""One turn's cost: its executions with their share of the charge, and only in its own
workspace."""

from decimal import Decimal

import pytest

from billing import turn_usage
from billing.models import BillingSettings
from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db


def test_a_turn_shows_its_executions_and_its_charge(team):
    paid(team)
    BillingSettings.objects.create(workspace=team.workspace, credits_per_second=Decimal("2"))
    turn, entry = charged_turn(conversation_of(team), [1500, 250], kinds=["python", "upload"])

    detail = turn_usage.turn_usage(workspace=team.workspace, turn=turn)

    assert [(line.execution.kind, line.credits) for line in detail.executions] == [
        ("python", Decimal("3")),
        ("upload", Decimal("0.5")),
    ]
    assert detail.charges == [entry]
    assert detail.charged == Decimal("4")  # 1.75 s rounds up to 2 s, at 2 credits a second
    assert detail.active_ms == 1750
    assert detail.rate == Decimal("2")


def test_a_turn_is_found_only_in_its_own_workspace(team, other_team):
    paid(team)
    turn, _ = charged_turn(conversation_of(team), [100])
    assert turn_usage.turn_of_workspace(workspace=team.workspace, pk=turn.pk) == turn
    assert turn_usage.turn_of_workspace(workspace=other_team.workspace, pk=turn.pk) is None
