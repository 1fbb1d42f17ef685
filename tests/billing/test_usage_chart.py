"""The usage chart's figures: every day of the period, stacked by agent or person, and
summing to the report's table to the credit."""

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from billing.reports import Period, UsageQuery, usage_report
from billing.usage_chart import MAX_SERIES, OTHERS, usage_chart
from sandbox.models import SandboxSession
from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db

PERIOD = Period(since=date(2026, 3, 1), until=date(2026, 3, 5))


def on(day: int) -> datetime:
    return timezone.make_aware(datetime.combine(date(2026, 3, day), time(12)))


@pytest.fixture
def charged(team):
    paid(team)
    charged_turn(conversation_of(team, agent_name="Analyst"), [2000], at=on(1))
    charged_turn(conversation_of(team, agent_name="Analyst", user=team.admin), [3000], at=on(4))
    charged_turn(conversation_of(team, agent_name="Direct"), [1000], at=on(4))


def test_every_day_of_the_period_is_there_with_zeros_where_nothing_ran(team, charged):
    chart = usage_chart(workspace=team.workspace, query=UsageQuery(period=PERIOD, group="day"))
    assert chart.days == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert chart.stacked_by == "Agent"
    assert {s["label"]: s["credits"] for s in chart.series} == {
        "Analyst": [2.0, 0.0, 0.0, 3.0, 0.0],
        "Direct": [0.0, 0.0, 0.0, 1.0, 0.0],
    }


def test_grouped_by_person_it_stacks_by_person_and_sums_to_the_table(team, charged):
    query = UsageQuery(period=PERIOD, group="user")
    chart = usage_chart(workspace=team.workspace, query=query)
    assert chart.stacked_by == "Person"
    sums = {s["label"]: Decimal(str(sum(s["credits"]))) for s in chart.series}
    rows = {
        row.label: row.credits for row in usage_report(workspace=team.workspace, query=query).rows
    }
    assert sums == rows
    assert sum(sums.values()) == Decimal("6")


def test_a_skills_test_runs_are_named_as_such_not_as_a_deleted_agent(team, charged):
    _, entry = charged_turn(conversation_of(team, agent_name="Gone"), [1000], at=on(2))
    SandboxSession.objects.filter(pk=entry.session_id).update(purpose="skill_test")
    LedgerEntry.objects.filter(pk=entry.pk).update(agent=None, turn=None)
    charged_turn(conversation_of(team, agent_name="Deleted"), [1000], at=on(3))
    LedgerEntry.objects.filter(label__startswith="Deleted").update(agent=None)

    query = UsageQuery(period=PERIOD, group="agent")
    labels = [row.label for row in usage_report(workspace=team.workspace, query=query).rows]
    assert sorted(labels) == ["(deleted agent)", "(skill test runs)", "Analyst", "Direct"]
    chart = usage_chart(workspace=team.workspace, query=query)
    assert sorted(s["label"] for s in chart.series) == sorted(labels)


def test_beyond_the_most_stacks_the_smallest_are_summed_as_others(team):
    paid(team)
    for n in range(MAX_SERIES + 2):
        charged_turn(conversation_of(team, agent_name=f"agent-{n}"), [1000 * (n + 1)], at=on(1))
    chart = usage_chart(workspace=team.workspace, query=UsageQuery(period=PERIOD, group="agent"))
    labels = [s["label"] for s in chart.series]
    assert len(labels) == MAX_SERIES and labels[-1] == OTHERS
    assert labels[0] == f"agent-{MAX_SERIES + 1}"
    assert sum(sum(s["credits"]) for s in chart.series) == sum(range(1, MAX_SERIES + 3))
