"""The usage_report command: the page's rows and totals, as CSV or JSON; plain errors."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db


@pytest.fixture
def charged(team, other_team):
    paid(team)
    paid(other_team)
    charged_turn(conversation_of(team, title="Forecast"), [2300, 1200])
    charged_turn(conversation_of(team, agent_name="Analyst", user=team.admin), [9000])
    charged_turn(conversation_of(other_team), [40_000])
    return team


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("usage_report", *args, stdout=out)
    return out.getvalue()


def today() -> str:
    return timezone.localdate().isoformat()


@pytest.mark.parametrize("group", ["day", "agent", "user", "conversation"])
def test_its_json_totals_and_rows_equal_the_pages(charged, client_for, group):
    page = client_for(charged.finance).get(
        reverse("usage:report", kwargs={"ws": "acme"}),
        {"since": today(), "until": today(), "group": group},
    )
    report = page.context["report"]

    printed = json.loads(
        run("--workspace", "acme", "--since", today(), "--group", group, "--format", "json")
    )

    assert printed["totals"] == {
        "credits": f"{report.totals.credits.normalize():f}",
        "active_seconds": "12.5",
        "sessions": report.totals.sessions,
    }
    assert printed["totals"]["credits"] == "13"
    assert [(row["label"], row["credits"]) for row in printed["rows"]] == [
        (row.label, f"{row.credits.normalize():f}") for row in report.rows
    ]


def test_its_csv_is_the_pages_csv(charged, client_for):
    response = client_for(charged.finance).get(
        reverse("usage:csv", kwargs={"ws": "acme"}),
        {"since": today(), "until": today(), "group": "agent"},
    )
    from_page = b"".join(response.streaming_content).decode()

    printed = run("--workspace", "acme", "--since", today(), "--until", today(), "--group", "agent")

    assert list(csv.reader(io.StringIO(printed))) == list(csv.reader(io.StringIO(from_page)))
    assert list(csv.reader(io.StringIO(printed)))[-1][2:] == ["Total", "13", "12.5", "2"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--workspace", "nope", "--since", "2026-01-01"], "No workspace has the slug “nope”"),
        (["--workspace", "acme", "--since", "01/02/2026"], "“01/02/2026” is not a date"),
        (
            ["--workspace", "acme", "--since", "2026-02-10", "--until", "2026-02-01"],
            "“until” (2026-02-01) is before “since” (2026-02-10)",
        ),
        (["--workspace", "acme", "--since", "2026-01-01", "--group", "hour"], "Group by one of"),
    ],
)
def test_bad_arguments_are_refused_in_plain_words(charged, args, words):
    with pytest.raises(CommandError, match=None) as refused:
        run(*args)
    assert words in str(refused.value)
