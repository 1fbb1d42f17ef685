"""Live usage against real Docker: a turn's usage events carry its credits so far, and
the session's charge (made when its sandbox closes) reaches the reports."""

import math
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.services import turns as services
from agents.turns import turn_execute
from billing import reports, turn_usage
from billing.models import BillingSettings, LedgerEntry
from tests.billing.usage_helpers import conversation_of, paid
from tests.conftest import run_in_new_loop

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")

CODE = "```python\nimport time\ntime.sleep(1.2)\nprint('done')\n```\n```bash\necho more\n```"


class Collect:
    def __init__(self):
        self.events: list[dict] = []

    async def send(self, event: dict) -> None:
        self.events.append(event)


def test_usage_events_count_credits_at_the_rate_and_match_the_charge(team):
    paid(team)
    paid_team, conversation = team, conversation_of(team)
    BillingSettings.objects.create(workspace=paid_team.workspace, credits_per_second=Decimal("2"))
    turn = services.turn_create(conversation=conversation, text=CODE)
    sink = Collect()

    run_in_new_loop(turn_execute(turn.pk, publisher=sink))

    usage = [e for e in sink.events if e["type"] == "usage"]
    # One after each model reply and each tool call; the time only grows.
    assert len(usage) >= 3
    assert {e["rate"] for e in usage} == {"2"}
    for event in usage:
        assert Decimal(event["credits"]) == math.ceil(event["active_ms"] / 1000) * 2
    assert usage[0]["credits"] == "0"
    active = [e["active_ms"] for e in usage]
    assert active == sorted(active) and active[-1] >= 1200

    charge = LedgerEntry.objects.get(turn=turn, kind=LedgerEntry.Kind.USAGE)
    assert -charge.amount == Decimal(usage[-1]["credits"])
    today = timezone.localdate()
    query = reports.UsageQuery(period=reports.Period(since=today, until=today), group="day")
    report = reports.usage_report(workspace=paid_team.workspace, query=query)
    assert report.totals.credits == -charge.amount
    detail = turn_usage.turn_usage(workspace=paid_team.workspace, turn=turn)
    assert [line.execution.kind for line in detail.executions] == ["python", "shell"]
    assert detail.active_ms == charge.active_ms
