"""The usage page's chart: credits per day over the whole period, every day present
(days without usage at zero), stacked by agent, or by person when the report groups by
person. Built from the same usage entries as the report (billing.reports), so its sums
are the table's to the credit."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import TruncDate

from billing.reports import UsageQuery, agent_row_label, usage_entries
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
    by_person = query.group == "user"
    period = query.period
    days = [period.since + timedelta(days=n) for n in range((period.until - period.since).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    totals: dict[str, list[Decimal]] = {}
    for values in _daily(workspace, query, by_person):
        label = _label(values, by_person)
        credits = totals.setdefault(label, [Decimal(0)] * len(days))
        credits[index[values["day"]]] += -(values["amount"] or Decimal(0))
    return UsageChart(
        stacked_by="Person" if by_person else "Agent",
        days=[day.isoformat() for day in days],
        series=[
            {"label": label, "credits": [float(c) for c in credits]}
            for label, credits in _fewest(totals)
        ],
    )


def _daily(workspace: Workspace, query: UsageQuery, by_person: bool):
    labels = ("user__full_name", "user__email") if by_person else ("agent__name", "skill_test")
    return (
        usage_entries(workspace=workspace, period=query.period)
        # Without a tzinfo, TruncDate uses the current time zone, as the report's days do.
        .annotate(day=TruncDate("created_at"), key=F("user_id" if by_person else "agent_id"))
        .values("day", "key", *labels)
        .annotate(amount=Sum("amount"))
        .order_by()
    )


def _label(values: dict, by_person: bool) -> str:
    if by_person:
        if values["key"] is None:
            return "(deleted person)"
        return values["user__full_name"] or values["user__email"]
    return agent_row_label(values["key"], values["agent__name"], values["skill_test"])


def _fewest(totals: dict[str, list[Decimal]]) -> list[tuple[str, list[Decimal]]]:
    """The largest series by their sums, the rest added up as one."""
    ranked = sorted(totals.items(), key=lambda item: (-sum(item[1]), item[0]))
    if len(ranked) <= MAX_SERIES:
        return ranked
    kept, rest = ranked[: MAX_SERIES - 1], ranked[MAX_SERIES - 1 :]
    others = [sum(day) for day in zip(*(credits for _, credits in rest), strict=True)]
    return [*kept, (OTHERS, others)]
