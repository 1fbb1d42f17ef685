"""The usage page's chart: credits per day over the whole period, every day present
(days without usage at zero), stacked by agent, or by person when the report groups by
person. Built from the same usage entries as the report (billing.reports), so its sums
are the table's to the credit."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncDate

from billing.reports import UsageQuery, grouped_by, row_label, usage_entries
from workspaces.models import Workspace

# More stacks than this are unreadable: the smallest are summed as one.
MAX_SERIES = 8
OTHERS = "Others"


@dataclass(frozen=True)
class UsageChart:
    stacked_by: str
    days: list[str]
    series: list[dict]

    def as_json(self) -> dict:
        return {"stackedBy": self.stacked_by, "days": self.days, "series": self.series}


def usage_chart(*, workspace: Workspace, query: UsageQuery) -> UsageChart:
    stack = "user" if query.group == "user" else "agent"
    period = query.period
    days = [period.since + timedelta(days=n) for n in range((period.until - period.since).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    totals: dict[str, list[Decimal]] = {}
    entries = usage_entries(workspace=workspace, period=period)
    # Without a tzinfo, TruncDate uses the current time zone, as the report's days do.
    daily = grouped_by(entries.annotate(day=TruncDate("created_at")), stack, "day")
    for values in daily.annotate(amount=Sum("amount")).order_by():
        credits = totals.setdefault(row_label(stack, values), [Decimal(0)] * len(days))
        credits[index[values["day"]]] += -(values["amount"] or Decimal(0))
    return UsageChart(
        stacked_by="Person" if stack == "user" else "Agent",
        days=[day.isoformat() for day in days],
        series=[
            {"label": label, "credits": [float(c) for c in credits]}
            for label, credits in _fewest(totals)
        ],
    )


def _fewest(totals: dict[str, list[Decimal]]) -> list[tuple[str, list[Decimal]]]:
    """The largest series by their sums, the rest added up as one."""
    ranked = sorted(totals.items(), key=lambda item: (-sum(item[1]), item[0]))
    if len(ranked) <= MAX_SERIES:
        return ranked
    kept, rest = ranked[: MAX_SERIES - 1], ranked[MAX_SERIES - 1 :]
    others = [sum(day) for day in zip(*(credits for _, credits in rest), strict=True)]
    return [*kept, (OTHERS, others)]
