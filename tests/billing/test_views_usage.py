"""The Usage pages: who may open them, what they show, and the CSV export."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry
from connections.models import Connection
from connections.selectors import connection_secret
from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db


@pytest.fixture
def charged(team):
    paid(team)
    chat = conversation_of(team, title="Forecast")
    turn, _ = charged_turn(chat, [2300, 1200])
    charged_turn(conversation_of(team, agent_name="Analyst", user=team.admin), [9000])
    return turn


def urls(team, turn) -> dict[str, str]:
    ws = team.workspace.slug
    return {
        "report": reverse("usage:report", kwargs={"ws": ws}),
        "csv": reverse("usage:csv", kwargs={"ws": ws}),
        "turn": reverse("usage:turn", kwargs={"ws": ws, "pk": turn.pk}),
    }


@pytest.mark.parametrize("which", ["report", "csv", "turn"])
@pytest.mark.parametrize(("role", "status"), [("finance", 200), ("admin", 200), ("member", 403)])
def test_finance_people_and_admins_may_open_the_usage_pages(
    team, charged, client_for, which, role, status
):
    response = client_for(team.user(role)).get(urls(team, charged)[which])
    assert response.status_code == status


@pytest.mark.parametrize("which", ["report", "csv", "turn"])
@pytest.mark.parametrize("role", ["finance", "admin"])
def test_another_workspaces_people_get_not_found(
    team, other_team, charged, client_for, which, role
):
    response = client_for(other_team.user(role)).get(urls(team, charged)[which])
    assert response.status_code == 404


def test_a_turn_of_another_workspace_is_not_found_under_ones_own(
    team, other_team, charged, client_for
):
    url = reverse("usage:turn", kwargs={"ws": other_team.workspace.slug, "pk": charged.pk})
    assert client_for(other_team.finance).get(url).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(team, charged, client):
    response = client.get(urls(team, charged)["report"])
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_page_shows_the_rows_totals_chart_and_the_turns(team, charged, client_for):
    response = client_for(team.finance).get(urls(team, charged)["report"] + "?group=agent")
    html = response.text
    report = response.context["report"]
    assert [(r.label, r.credits) for r in report.rows] == [
        ("Analyst", Decimal("9")),
        ("Direct", Decimal("4")),
    ]
    assert 'data-testid="total-credits">13<' in html
    chart = response.context["chart"]
    assert chart["stackedBy"] == "Agent"
    assert {s["label"]: sum(s["credits"]) for s in chart["series"]} == {"Analyst": 9, "Direct": 4}
    assert 'id="usage-chart-data"' in html and "chart.umd.min.js" in html
    assert html.count('data-testid="charge-row"') == 2
    assert urls(team, charged)["turn"] in html


def test_the_default_period_is_this_month(team, charged, client_for):
    report = client_for(team.admin).get(urls(team, charged)["report"]).context["report"]
    today = timezone.localdate()
    assert (report.query.period.since, report.query.period.until) == (today.replace(day=1), today)
    assert report.query.group == "day"


def test_a_bad_period_is_explained_and_what_was_typed_is_kept(team, charged, client_for):
    url = urls(team, charged)["report"] + "?since=2026-02-10&until=2026-02-01&group=agent"
    response = client_for(team.finance).get(url)
    assert response.status_code == 400
    assert "is before “since”" in response.text
    assert 'value="2026-02-10"' in response.text
    assert 'value="agent" selected' in response.text
    csv_response = client_for(team.finance).get(urls(team, charged)["csv"] + "?since=2026-02-30")
    assert csv_response.status_code == 400
    assert "“2026-02-30” is not a date" in csv_response.content.decode()


@pytest.mark.parametrize("group", ["day", "agent", "user", "conversation"])
def test_the_csv_has_the_pages_rows_and_totals(team, charged, client_for, group):
    client = client_for(team.finance)
    page = client.get(urls(team, charged)["report"] + f"?group={group}").context["report"]
    response = client.get(urls(team, charged)["csv"] + f"?group={group}")

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0] == ["group", "key", "label", "credits", "active_seconds", "sessions"]
    assert [(line[2], line[3], line[5]) for line in lines[1:-1]] == [
        (row.label, f"{row.credits.normalize():f}", str(row.sessions)) for row in page.rows
    ]
    assert lines[-1][2:] == ["Total", "13", "12.5", "2"]
    assert lines[-1][3] == f"{page.totals.credits.normalize():f}"


def test_the_csv_of_every_charge_lists_each_usage_entry(team, charged, client_for):
    response = client_for(team.finance).get(urls(team, charged)["csv"] + "?rows=charges")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    keys = sorted(line[1] for line in lines[1:])
    entries = LedgerEntry.objects.filter(workspace=team.workspace, kind="usage")
    assert keys == sorted(entries.values_list("idempotency_key", flat=True))


def test_the_turn_page_shows_durations_and_charge_but_not_the_code(team, charged, client_for):
    html = client_for(team.finance).get(urls(team, charged)["turn"]).text
    assert html.count('data-testid="execution-row"') == 2
    assert "2300 ms" in html and 'data-testid="turn-charged">4<' in html
    assert "print(0)" not in html and "print(1)" not in html
    assert "member Acme" in html  # who ran it


def body_of(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_usage_pages_show_cost_time_and_who_never_code_or_titles(team, charged, client_for, role):
    client = client_for(team.user(role))
    pages = [urls(team, charged)["turn"], urls(team, charged)["csv"] + "?rows=charges"]
    for group in ("day", "agent", "user", "conversation"):
        pages += [f"{urls(team, charged)[w]}?group={group}" for w in ("report", "csv")]
    for url in pages:
        body = body_of(client.get(url))
        # The title came from the member's first message; the code is what the agent ran.
        assert "Forecast" not in body and "print(" not in body and "run it" not in body, url
    report = body_of(client.get(urls(team, charged)["report"] + "?group=conversation"))
    assert f"Conversation {str(charged.conversation.pk)[:8]} with Direct" in report
    assert "member Acme" in body_of(client.get(urls(team, charged)["report"] + "?group=user"))


def test_a_finance_person_sees_no_secrets_and_no_admin_pages(team, charged, client_for):
    client = client_for(team.finance)
    ws = team.workspace.slug
    for name in ("connections:list", "member_list", "workspace_settings"):
        assert client.get(reverse(name, kwargs={"ws": ws})).status_code == 403
    connection = Connection.objects.get(workspace=team.workspace)
    assert (
        client.get(reverse("connections:edit", kwargs={"ws": ws, "pk": connection.pk})).status_code
        == 403
    )
    assert client.get("/operator/").status_code == 302  # the operator's admin: not staff
    secret = connection_secret(connection=connection)
    assert len(secret) > 8
    pages = [urls(team, charged)[which] for which in ("report", "turn")]
    pages += [reverse("dashboard", kwargs={"ws": ws}), urls(team, charged)["csv"]]
    for url in pages:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert secret not in body.decode()
        assert connection.secret_hint not in body.decode() or not connection.secret_hint
        assert "Connections</a>" not in body.decode()


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_the_dashboard_shows_every_member_the_live_usage_figures(team, charged, client_for, role):
    html = client_for(team.user(role)).get(reverse("dashboard", kwargs={"ws": "acme"})).text
    assert 'data-ws-path="/ws/w/acme/usage/"' in html
    assert 'data-testid="usage-today">13<' in html
    assert 'data-testid="usage-burn">13<' in html
    balance = LedgerEntry.objects.filter(account__key__connections__workspace=team.workspace)
    expected = sum(e.amount for e in balance)
    assert f'data-testid="usage-balance">{expected.normalize():f}<' in html


def test_the_usage_link_is_shown_to_finance_people_and_admins_only(team, client_for):
    dashboard = reverse("dashboard", kwargs={"ws": "acme"})
    for role, shown in (("finance", True), ("admin", True), ("member", False)):
        html = client_for(team.user(role)).get(dashboard).text
        assert ('data-testid="nav-usage"' in html) is shown, role


def test_the_turn_page_counts_turns_as_the_ledger_does(team, charged, client_for):
    html = client_for(team.finance).get(urls(team, charged)["turn"]).text
    entry = LedgerEntry.objects.get(turn=charged)
    assert charged.index == 1 and ", turn 1:" in entry.label
    assert "Turn 1 of" in html
