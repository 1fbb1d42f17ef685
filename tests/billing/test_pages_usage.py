"""Live usage and the finance report in a real Chromium against Daphne and real sandboxes:
the playground's meter moves while code runs, the dashboard follows the charge live,
and the finance report shows the turn, its executions and its CSV."""

import csv
import io
import math
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from billing.models import LedgerEntry
from tests.billing.usage_helpers import conversation_of, paid
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_image"),
]

FOUR_SECONDS = """```python
import time
for i in range(4):
    print(f"step {i}", flush=True)
    time.sleep(1)
```"""
SANDBOX_START = 60_000  # ms: a cold container start on a busy machine


def log_in(page, user) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[data-testid=current-workspace]")


@pytest.fixture
def finance_page(browser, asgi_live_server) -> Iterator:
    context = browser.new_context(
        base_url=asgi_live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def seconds_on(meter) -> int:
    return int(re.match(r"Active (\d+) s", meter.inner_text()).group(1))


def test_the_meter_moves_and_the_finance_report_shows_the_turn(asgi_page, finance_page, team):
    paid(team)
    chat = conversation_of(team, title="Meter check")
    log_in(finance_page, team.finance)
    finance_page.goto("/w/acme/")
    expect(finance_page.get_by_test_id("usage-state")).to_have_text("live")
    expect(finance_page.get_by_test_id("usage-today")).to_have_text("0")

    page = asgi_page
    log_in(page, team.member)
    page.goto(f"/w/acme/playground/{chat.pk}/")
    expect(page.get_by_test_id("send")).to_be_enabled()
    box = page.get_by_test_id("message-input")
    box.fill(FOUR_SECONDS)
    box.press("Enter")

    meter = page.get_by_test_id("usage-meter")
    output = page.get_by_test_id("tool-output").first
    expect(output).to_contain_text("step 1", timeout=SANDBOX_START)
    early = seconds_on(meter)
    expect(output).to_contain_text("step 3")
    later = seconds_on(meter)
    assert later > early >= 1, (early, later)
    expect(meter).to_have_text(re.compile(r"^Active \d+ s · \d+ credits?$"))

    expect(page.get_by_test_id("turn-status").first).to_have_text(re.compile(r"^Answered in"))
    charge = LedgerEntry.objects.get(workspace=team.workspace, kind="usage")
    credits = -charge.amount.normalize()
    billed = math.ceil(charge.active_ms / 1000)
    assert billed >= 4
    expect(meter).to_have_text(f"Active {billed} s · {credits:f} credits")

    # The dashboard that was open all along shows the charge without a reload.
    expect(finance_page.get_by_test_id("usage-today")).to_have_text(f"{credits:f}")
    expect(finance_page.get_by_test_id("usage-burn")).to_have_text(f"{credits:f}")

    finance_page.get_by_test_id("nav-usage").click()
    expect(finance_page.get_by_test_id("total-credits")).to_have_text(f"{credits:f}")
    row = finance_page.get_by_test_id("charge-row")
    expect(row).to_have_count(1)
    # Who and what it cost, not the title taken from the member's message.
    expect(row).to_contain_text(f"Conversation {str(chat.pk)[:8]} with")
    expect(row).not_to_contain_text("Meter check")
    expect(row).to_contain_text("member Acme")

    with finance_page.expect_download() as download_info:
        finance_page.get_by_test_id("usage-csv").click()
    download = download_info.value
    assert re.fullmatch(
        r"usage-acme-\d{4}-\d\d-01-\d{4}-\d\d-\d\d-day\.csv", download.suggested_filename
    )
    with open(download.path(), encoding="utf-8") as saved:
        lines = list(csv.reader(io.StringIO(saved.read())))
    assert lines[-1][2:] == ["Total", f"{credits:f}", f"{charge.active_ms / 1000:g}", "1"]

    finance_page.get_by_label("Group by").select_option("agent")
    finance_page.get_by_test_id("usage-show").click()
    expect(finance_page).to_have_url(re.compile(r"group=agent"))
    cells = finance_page.get_by_test_id("usage-row").locator("td")
    expect(cells).to_have_text(["Direct", f"{credits:f}", re.compile(r"^\d+\.\d$"), "1"])
    row.get_by_test_id("turn-link").click()
    executions = finance_page.get_by_test_id("execution-row")
    expect(executions).to_have_count(1)
    expect(executions).not_to_contain_text("for i in range(4):")  # the code stays private
    expect(executions).to_contain_text("OK")
    expect(finance_page.get_by_test_id("turn-charged")).to_have_text(f"{credits:f}")


def test_a_member_cannot_open_the_report_and_has_no_usage_link(page, team, live_server):
    page.goto("/login/")
    page.get_by_label("Email").fill(team.member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[data-testid=current-workspace]")
    expect(page.get_by_test_id("nav-usage")).to_have_count(0)
    response = page.goto("/w/acme/usage/")
    assert response.status == 403
