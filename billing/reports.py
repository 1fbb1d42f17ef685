"""Reads for the finance reports, the usage_report command and the live usage figures.

A report is built from the workspace's usage entries only (``LedgerEntry.Kind.USAGE``):
its totals are, by construction, the sum of those entries over the period. Periods are
whole days in the site's time zone (``TIME_ZONE``), both ends included. Credits are
shown as positive numbers (usage entries are negative amounts).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from billing.models import LedgerEntry
from billing.selectors import (
    billing_settings_of,
    credits_for,
    session_active_ms,
    workspace_balance,
)
from connections.models import Connection, Kind
from sandbox.models import SandboxSession
from workspaces.models import Workspace

ZERO = Decimal("0")
GROUPS = {"day": "Day", "agent": "Agent", "user": "Person", "conversation": "Conversation"}
# Keeps a typo'd year from building a report over centuries.
MAX_PERIOD_DAYS = 3660
BURN_WINDOW = timedelta(hours=1)
# The purpose skills give their test runs' sessions (skills.testrun.PURPOSE): billing,
# below skills, names it to label their usage.
SKILL_TEST_PURPOSE = "skill_test"


@dataclass(frozen=True)
class Period:
    since: date
    until: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.since, time.min))

    @property
    def end(self) -> datetime:
        """The first instant after the period (its last day is included)."""
        return timezone.make_aware(datetime.combine(self.until + timedelta(days=1), time.min))


@dataclass(frozen=True)
class UsageQuery:
    period: Period
    group: str


@dataclass(frozen=True)
class UsageRow:
    key: str
    label: str
    credits: Decimal
    active_ms: int
    sessions: int

    @property
    def active_seconds(self) -> Decimal:
        return Decimal(self.active_ms) / 1000


@dataclass
class UsageTotals:
    credits: Decimal = ZERO
    active_ms: int = 0
    sessions: int = 0

    @property
    def active_seconds(self) -> Decimal:
        return Decimal(self.active_ms) / 1000


@dataclass
class UsageReport:
    query: UsageQuery
    rows: list[UsageRow] = field(default_factory=list)
    totals: UsageTotals = field(default_factory=UsageTotals)


def this_month(*, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(since=today.replace(day=1), until=today)


def parse_date(value: str, *, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ValidationError(
            f"“{value}” is not a date for {name}: write it as YYYY-MM-DD, e.g. 2026-01-31."
        ) from None


def usage_query_parse(
    *, since: str | None, until: str | None, group: str | None, today: date | None = None
) -> UsageQuery:
    """The report asked for, from text (a query string or the command line). Missing
    parts take the defaults: this month, grouped by day."""
    default = this_month(today=today)
    errors = []
    start, end = default.since, (today or timezone.localdate())
    try:
        start = parse_date(since, name="“since”") if since else default.since
    except ValidationError as error:
        errors += error.messages
    try:
        end = parse_date(until, name="“until”") if until else max(start, default.until)
    except ValidationError as error:
        errors += error.messages
    group = group or "day"
    if group not in GROUPS:
        errors.append(f"Group by one of: {', '.join(GROUPS)} (not “{group}”).")
    if not errors and end < start:
        errors.append(f"“until” ({end}) is before “since” ({start}): swap them.")
    if not errors and (end - start).days >= MAX_PERIOD_DAYS:
        errors.append(f"A report covers at most {MAX_PERIOD_DAYS} days; choose a shorter period.")
    if errors:
        raise ValidationError(errors)
    return UsageQuery(period=Period(since=start, until=end), group=group)


def usage_entries(*, workspace: Workspace, period: Period) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(
        workspace=workspace,
        kind=LedgerEntry.Kind.USAGE,
        created_at__gte=period.start,
        created_at__lt=period.end,
    )


# Marks a skill's test runs among the entries without an agent; annotated only where
# rows are named by agent (it joins the sessions).
SKILL_TEST = Case(
    When(agent_id=None, session__purpose=SKILL_TEST_PURPOSE, then=Value(True)),
    default=Value(False),
)


# How each grouping names its rows: (key expression, label fields).
_GROUP_KEYS = {
    # Without a tzinfo, TruncDate uses the current time zone when the query runs.
    "day": TruncDate("created_at"),
    "agent": F("agent_id"),
    "user": F("user_id"),
    "conversation": F("turn__conversation_id"),
}
_GROUP_LABELS = {
    "day": (),
    "agent": ("agent__name", "skill_test"),
    "user": ("user__full_name", "user__email"),
    "conversation": ("turn__conversation__agent__name",),
}


def conversation_label(conversation) -> str:
    """How usage pages and exports name a conversation: by its number and agent, never by
    its title, which is taken from the person's first message. Only they see what they
    wrote; admins and finance see what it cost, how long it ran, and who ran it."""
    return _conversation_label(conversation.pk, conversation.agent.name)


def _conversation_label(pk, agent: str) -> str:
    # The first characters of its id tell conversations apart; the id is in the CSV.
    return f"Conversation {str(pk)[:8]} with {agent}"


def usage_rows(*, workspace: Workspace, query: UsageQuery) -> Iterator[UsageRow]:
    """The report's rows, aggregated by the database and streamed in order (a CSV of a
    long period never holds them all in memory)."""
    entries = usage_entries(workspace=workspace, period=query.period)
    grouped = (
        grouped_by(entries, query.group)
        .annotate(amount=Sum("amount"), active=Coalesce(Sum("active_ms"), 0), sessions=Count("id"))
        .order_by(*_row_order(query.group))
    )
    for values in grouped.iterator(chunk_size=500):
        yield UsageRow(
            key="" if values["group_key"] is None else str(values["group_key"]),
            label=row_label(query.group, values),
            credits=-(values["amount"] or ZERO),
            active_ms=values["active"],
            sessions=values["sessions"],
        )


def grouped_by(entries: QuerySet[LedgerEntry], group: str, *also: str) -> QuerySet:
    """``entries`` as values grouped by ``group`` (and the fields ``also`` names), with what
    row_label needs to name each group."""
    extra = {"skill_test": SKILL_TEST} if group == "agent" else {}
    return entries.annotate(group_key=_GROUP_KEYS[group], **extra).values(
        *also, "group_key", *_GROUP_LABELS[group]
    )


def _row_order(group: str) -> tuple[str, ...]:
    # Days in calendar order; everything else by what it cost, largest first.
    return ("group_key",) if group == "day" else ("amount", "group_key")


def row_label(group: str, values: dict) -> str:
    """A row's name from its grouped values (``group_key`` and the group's label fields)."""
    if group == "agent":
        return agent_row_label(values["group_key"], values["agent__name"], values["skill_test"])
    if values["group_key"] is None:
        return {"user": "(deleted person)", "conversation": "(no conversation)"}.get(group, "")
    if group == "day":
        return values["group_key"].isoformat()
    if group == "user":
        return values["user__full_name"] or values["user__email"]
    return _conversation_label(values["group_key"], values["turn__conversation__agent__name"])


def agent_row_label(agent_id, name: str | None, skill_test: bool) -> str:
    """An agent's name; usage without an agent is a skill's test run, or an agent since
    deleted."""
    if agent_id is not None:
        return name
    return "(skill test runs)" if skill_test else "(deleted agent)"


def usage_totals(*, workspace: Workspace, period: Period) -> UsageTotals:
    found = usage_entries(workspace=workspace, period=period).aggregate(
        amount=Sum("amount"), active=Coalesce(Sum("active_ms"), 0), sessions=Count("id")
    )
    return UsageTotals(
        credits=-(found["amount"] or ZERO), active_ms=found["active"], sessions=found["sessions"]
    )


def usage_report(*, workspace: Workspace, query: UsageQuery) -> UsageReport:
    return UsageReport(
        query=query,
        rows=list(usage_rows(workspace=workspace, query=query)),
        totals=usage_totals(workspace=workspace, period=query.period),
    )


# --- Live figures -----------------------------------------------------------------------


def plain(value: Decimal | None) -> str | None:
    """A credit amount as text without trailing zeros ("3", "2.5")."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def usage_meter(*, workspace: Workspace, active_ms: int) -> dict:
    rate = billing_settings_of(workspace=workspace).credits_per_second
    return {"credits": plain(credits_for(active_ms=active_ms, rate=rate)), "rate": plain(rate)}


def usage_snapshot(*, workspace: Workspace, now: datetime | None = None) -> dict:
    """Balance, today's usage and the burn rate: the credits charged in the last hour,
    which is the pace in credits per hour."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    spent_today = usage_totals(workspace=workspace, period=Period(since=today, until=today))
    burned = LedgerEntry.objects.filter(
        workspace=workspace,
        kind=LedgerEntry.Kind.USAGE,
        created_at__gt=now - BURN_WINDOW,
        created_at__lte=now,
    ).aggregate(amount=Sum("amount"))["amount"]
    running_credits, running_sessions = _running(workspace, now)
    return {
        "type": "usage",
        "balance": plain(workspace_balance(workspace=workspace)),
        "running_credits": plain(running_credits),
        "running_sessions": running_sessions,
        "today_credits": plain(spent_today.credits),
        # Tenths of a second: what a person reads, and what the usage pages show.
        "today_seconds": f"{spent_today.active_seconds:.1f}",
        "today_sessions": spent_today.sessions,
        "burn_per_hour": plain(-(burned or ZERO)),
        "at": now.isoformat(),
    }


def _running(workspace: Workspace, now: datetime) -> tuple[Decimal, int]:
    """Credits the workspace's open sessions have used so far, not yet charged."""
    open_sessions = SandboxSession.objects.filter(
        workspace=workspace, status=SandboxSession.Status.OPEN
    )
    rate = billing_settings_of(workspace=workspace).credits_per_second
    used = [session_active_ms(session=s, now=now) for s in open_sessions.only("pk")]
    return sum((credits_for(active_ms=ms, rate=rate) for ms in used), ZERO), len(used)


@dataclass(frozen=True)
class ChargeLine:
    entry: LedgerEntry

    @property
    def credits(self) -> Decimal:
        return -self.entry.amount

    @property
    def active_seconds(self) -> Decimal:
        return Decimal(self.entry.active_ms or 0) / 1000

    @property
    def conversation_label(self) -> str:
        return conversation_label(self.entry.turn.conversation) if self.entry.turn else ""


def recent_charges(*, workspace: Workspace, period: Period, limit: int = 100) -> list[ChargeLine]:
    entries = (
        usage_entries(workspace=workspace, period=period)
        .select_related("agent", "user", "turn__conversation__agent")
        .order_by("-created_at", "-id")[:limit]
    )
    return [ChargeLine(entry=entry) for entry in entries]


def workspaces_of_entry(*, entry: LedgerEntry) -> set[int]:
    """The workspaces whose figures an entry moves: its own, and every workspace paying
    with the same PixelML key (they share the balance)."""
    sharing = Connection.objects.filter(
        kind=Kind.PIXELML,
        pixelml_key__credit_account=entry.account_id,
        pixelml_key__revoked_at__isnull=True,
    ).values_list("workspace_id", flat=True)
    found = set(sharing)
    if entry.workspace_id:
        found.add(entry.workspace_id)
    return found
