"""Report reads: totals are the ledger's usage entries; days, groups, periods; the live
figures."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from billing import reports
from billing.models import BillingSettings, LedgerEntry
from billing.selectors import workspace_balance
from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db


def query(since: date, until: date, group: str = "day") -> reports.UsageQuery:
    return reports.UsageQuery(period=reports.Period(since=since, until=until), group=group)


def ledger_usage(workspace) -> Decimal:
    total = LedgerEntry.objects.filter(workspace=workspace, kind="usage").aggregate(
        t=Sum("amount")
    )["t"]
    return -total


@pytest.fixture
def busy(team, other_team):
    """Charges in two workspaces: two agents and two people in the first."""
    paid(team)
    paid(other_team)
    first = conversation_of(team, title="Quarterly numbers")
    second = conversation_of(team, agent_name="Analyst", user=team.admin)
    charged_turn(first, [2300])  # 3 s
    charged_turn(first, [400, 700])  # 2 s
    charged_turn(second, [10_000])  # 10 s
    charged_turn(conversation_of(other_team), [50_000])
    return team


@pytest.mark.parametrize("group", list(reports.GROUPS))
def test_every_grouping_adds_up_to_the_usage_entries_of_the_ledger(busy, group):
    today = timezone.localdate()
    report = reports.usage_report(workspace=busy.workspace, query=query(today, today, group))

    assert report.totals.credits == ledger_usage(busy.workspace) == Decimal("15")
    assert report.totals.sessions == 3
    assert report.totals.active_ms == 2300 + 400 + 700 + 10_000
    assert sum(row.credits for row in report.rows) == report.totals.credits
    assert sum(row.sessions for row in report.rows) == report.totals.sessions
    assert sum(row.active_ms for row in report.rows) == report.totals.active_ms


def test_grants_and_other_workspaces_are_not_usage(busy, other_team):
    today = timezone.localdate()
    totals = reports.usage_totals(workspace=busy.workspace, period=query(today, today).period)
    assert LedgerEntry.objects.filter(workspace=busy.workspace, kind="grant").exists()
    assert totals.credits == Decimal("15")
    other = reports.usage_totals(workspace=other_team.workspace, period=query(today, today).period)
    assert other.credits == Decimal("50")


def test_rows_name_the_agent_the_person_and_the_conversation(busy):
    today = timezone.localdate()

    def rows(group):
        report = reports.usage_report(workspace=busy.workspace, query=query(today, today, group))
        return [(row.label, row.credits) for row in report.rows]

    # Largest first.
    assert rows("agent") == [("Analyst", Decimal("10")), ("Direct", Decimal("5"))]
    assert rows("user") == [("admin Acme", Decimal("10")), ("member Acme", Decimal("5"))]
    # Named by number and agent: the title comes from what the person wrote.
    labels = [
        (label.split(" ")[0], label.split(" with ")[1], c) for label, c in rows("conversation")
    ]
    assert labels == [
        ("Conversation", "Analyst", Decimal("10")),
        ("Conversation", "Direct", Decimal("5")),
    ]
    assert "Quarterly numbers" not in str(rows("conversation"))
    assert rows("day") == [(today.isoformat(), Decimal("15"))]


def test_days_are_the_sites_days_and_both_ends_are_included(team, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    paid(team)
    chat = conversation_of(team)
    utc = ZoneInfo("UTC")
    # 16:00 UTC on March 1st is 01:00 on March 2nd in Tokyo.
    charged_turn(chat, [1000], at=datetime(2026, 3, 1, 16, 0, tzinfo=utc))
    charged_turn(chat, [2000], at=datetime(2026, 3, 1, 14, 59, tzinfo=utc))  # Mar 1, 23:59
    charged_turn(chat, [4000], at=datetime(2026, 3, 3, 14, 59, tzinfo=utc))  # Mar 3, 23:59
    charged_turn(chat, [8000], at=datetime(2026, 3, 3, 15, 0, tzinfo=utc))  # Mar 4, 00:00

    report = reports.usage_report(
        workspace=team.workspace, query=query(date(2026, 3, 2), date(2026, 3, 3))
    )

    assert [(row.key, row.credits) for row in report.rows] == [
        ("2026-03-02", Decimal("1")),
        ("2026-03-03", Decimal("4")),
    ]
    assert report.totals.credits == Decimal("5")


def test_a_parsed_query_defaults_to_this_month_by_day():
    parsed = reports.usage_query_parse(since=None, until=None, group=None, today=date(2026, 5, 17))
    assert parsed == query(date(2026, 5, 1), date(2026, 5, 17), "day")


@pytest.mark.parametrize(
    ("since", "until", "group", "words"),
    [
        ("2026-13-01", None, None, "“2026-13-01” is not a date for “since”"),
        ("2026-01-01", "yesterday", None, "“yesterday” is not a date for “until”"),
        ("2026-02-10", "2026-02-01", None, "is before “since”"),
        ("2026-02-01", None, "week", "Group by one of: day, agent, user, conversation"),
        ("1990-01-01", "2026-01-01", None, "at most 3660 days"),
    ],
)
def test_a_bad_query_is_refused_in_plain_words(since, until, group, words):
    with pytest.raises(ValidationError) as refused:
        reports.usage_query_parse(since=since, until=until, group=group, today=date(2026, 5, 17))
    assert words in " ".join(refused.value.messages)


def test_the_live_figures_are_the_balance_todays_usage_and_the_last_hours_burn(team):
    paid(team, credits="1000")
    before = workspace_balance(workspace=team.workspace)
    chat = conversation_of(team)
    now = timezone.now()
    charged_turn(chat, [3000], at=now - timedelta(minutes=10))
    charged_turn(chat, [5000], at=now - timedelta(minutes=90))
    charged_turn(chat, [7000], at=now - timedelta(days=2))

    figures = reports.usage_snapshot(workspace=team.workspace, now=now)

    assert figures["balance"] == reports.plain(before - 15)
    assert figures["burn_per_hour"] == "3"
    today = [
        e for e in LedgerEntry.objects.filter(kind="usage")
        if timezone.localdate(e.created_at) == timezone.localdate(now)
    ]  # fmt: skip
    assert figures["today_credits"] == reports.plain(-sum(e.amount for e in today))
    assert figures["today_sessions"] == len(today)


def test_the_live_figures_of_a_workspace_without_pixelml_have_no_balance(team):
    figures = reports.usage_snapshot(workspace=team.workspace)
    assert figures["balance"] is None
    assert figures["today_credits"] == "0"


def test_the_meter_rounds_up_to_whole_seconds_at_the_workspace_rate(team):
    BillingSettings.objects.create(workspace=team.workspace, credits_per_second=Decimal("0.5"))
    assert reports.usage_meter(workspace=team.workspace, active_ms=2001) == {
        "credits": "1.5",
        "rate": "0.5",
    }
    assert reports.usage_meter(workspace=team.workspace, active_ms=0)["credits"] == "0"
