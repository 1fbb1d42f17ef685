"""The usage chart in a real Chromium: drawn by Chart.js with both axes, every day of
the period, one stack per agent, the table's figures, and the values on hover."""

from datetime import date, datetime, time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHART_STATE = """() => {
  const chart = Chart.getChart(document.querySelector("[data-usage-chart] canvas"));
  return {
    days: chart.data.labels,
    sums: Object.fromEntries(
      chart.data.datasets.map((d) => [d.label, d.data.reduce((a, b) => a + b, 0)])
    ),
    axes: [chart.options.scales.x.title.text, chart.options.scales.y.title.text],
    bar: chart.getDatasetMeta(0).data[3].getCenterPoint(),
  };
}"""
TOOLTIP = """() => {
  const tooltip = Chart.getChart(document.querySelector("[data-usage-chart] canvas")).tooltip;
  return [tooltip.title, tooltip.body.flatMap((b) => b.lines), tooltip.footer];
}"""


def on(day: int) -> datetime:
    return timezone.make_aware(datetime.combine(date(2026, 3, day), time(12)))


def test_the_chart_has_axes_every_day_the_tables_figures_and_values_on_hover(page, login, team):
    paid(team)
    charged_turn(conversation_of(team, agent_name="Analyst"), [2000], at=on(1))
    charged_turn(conversation_of(team, agent_name="Analyst"), [3000], at=on(4))
    charged_turn(conversation_of(team, agent_name="Direct"), [1500], at=on(4))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(team.finance)
    page.goto(f"/w/{team.workspace.slug}/usage/?since=2026-03-01&until=2026-03-05&group=agent")

    figure = page.get_by_test_id("usage-chart")
    expect(figure).to_have_attribute("data-drawn", "2")
    state = page.evaluate(CHART_STATE)
    assert state["days"] == [f"2026-03-0{day}" for day in range(1, 6)]
    assert state["axes"] == ["Day", "Credits"]
    table = {
        row.locator("td").nth(0).inner_text(): float(row.locator("td").nth(1).inner_text())
        for row in page.get_by_test_id("usage-row").all()
    }
    assert state["sums"] == table == {"Analyst": 5, "Direct": 2}

    box = figure.locator("canvas").bounding_box()
    page.mouse.move(box["x"] + state["bar"]["x"], box["y"] + state["bar"]["y"])
    page.wait_for_function(
        "() => Chart.getChart(document.querySelector('[data-usage-chart] canvas'))"
        ".tooltip.getActiveElements().length > 0"
    )
    title, lines, footer = page.evaluate(TOOLTIP)
    assert title == ["2026-03-04"]
    assert lines == ["Analyst: 3 credits", "Direct: 2 credits"]
    assert footer == ["Total: 5 credits"]
    assert errors == []
