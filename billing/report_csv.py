"""The finance reports as CSV: the report's table with a total line, and every usage
charge of a period, one line each. Both are streamed: a long period is never held in
memory."""

from collections.abc import Iterator

from django.utils import timezone

from billing.reports import (
    Period,
    UsageQuery,
    conversation_label,
    plain,
    usage_entries,
    usage_rows,
    usage_totals,
)
from workspaces.models import Workspace

CSV_HEADER = ["group", "key", "label", "credits", "active_seconds", "sessions"]
CHARGES_HEADER = [
    "created_at", "idempotency_key", "agent", "person", "conversation", "turn",
    "active_ms", "rate", "credits",
]  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """Names come from people (agent names, conversation titles): never a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def usage_csv_lines(*, workspace: Workspace, query: UsageQuery) -> Iterator[list[str]]:
    """The report's table as CSV lines: a header, the rows, then a total line."""
    yield CSV_HEADER
    for row in usage_rows(workspace=workspace, query=query):
        yield [
            query.group, row.key, cell(row.label), plain(row.credits),
            plain(row.active_seconds), str(row.sessions),
        ]  # fmt: skip
    totals = usage_totals(workspace=workspace, period=query.period)
    yield [
        "total", "", "Total", plain(totals.credits), plain(totals.active_seconds),
        str(totals.sessions),
    ]  # fmt: skip


def charges_csv_lines(*, workspace: Workspace, period: Period) -> Iterator[list[str]]:
    """Every usage charge of the period, one line each, read from the database in chunks."""
    yield CHARGES_HEADER
    entries = (
        usage_entries(workspace=workspace, period=period)
        .select_related("agent", "user", "turn__conversation__agent")
        .order_by("created_at", "id")
    )
    for entry in entries.iterator(chunk_size=1000):
        conversation = entry.turn.conversation if entry.turn else None
        yield [
            timezone.localtime(entry.created_at).isoformat(),
            entry.idempotency_key,
            cell(entry.agent.name if entry.agent else ""),
            cell(entry.user.email if entry.user else ""),
            cell(conversation_label(conversation) if conversation else ""),
            str(entry.turn_id or ""),
            str(entry.active_ms or 0),
            plain(entry.rate) or "",
            plain(-entry.amount),
        ]
