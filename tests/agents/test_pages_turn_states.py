"""Turn states in a real Chromium against Daphne and real sandboxes: a turn whose code
timed out or failed never reads "Answered", and the transcript (live and after a
reload), the conversation list and the usage pages say the same state."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from agents.models import Agent, Conversation, Turn
from portal.demo import demo_seed
from tests.agents.test_pages_playground import SANDBOX_START, send
from tests.billing.test_pages_usage import log_in
from tests.conftest import PASSWORD
from workspaces.models import User, Workspace

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_image"),
]

SPIN = "```python\nwhile True:\n    pass\n```"
DIVIDE = "```python\n1 / 0\n```"
PRINT = "```python\nprint('fine')\n```"
TIMED_OUT = "Timed out: the last code run reached its time limit; the agent answered in"
FAILED = "Failed: the last code run did not succeed; the agent answered in"


@pytest.fixture
def demo_agent(settings) -> Agent:
    """The demo's Direct-mode agent, with a 2 s time limit per run."""
    settings.DEMO_PASSWORD = PASSWORD
    demo_seed()
    workspace = Workspace.objects.get(slug="demo")
    agent = workspace.agents.get(connection=None, code_execution=True)
    agent.timeout_seconds = 2
    agent.save(update_fields=["timeout_seconds"])
    return agent


@pytest.fixture
def admin_page(browser, asgi_live_server) -> Iterator:
    context = browser.new_context(
        base_url=asgi_live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def finished(page, nth: int, text: str, state: str) -> None:
    line = page.get_by_test_id("turn-status").nth(nth)
    expect(line).to_contain_text(text, timeout=SANDBOX_START)
    expect(line).to_have_attribute("data-state", state)
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_failed_and_timed_out_turns_read_so_everywhere(asgi_page, admin_page, demo_agent, settings):
    settings.TURNBOX_SANDBOX_INTERRUPT_GRACE_SECONDS = 3
    page = asgi_page
    log_in(page, User.objects.get(email="member@example.com"))
    page.goto(f"/w/demo/playground/?agent={demo_agent.pk}")
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("send")).to_be_enabled()
    state = page.get_by_test_id("conversation-state")

    send(page, SPIN)
    expect(state).to_have_text("Running", timeout=SANDBOX_START)
    finished(page, 0, TIMED_OUT, "timed_out")
    expect(page.get_by_test_id("turn-status").first).to_have_class(re.compile("is-bad"))
    expect(state).to_have_text("Timed out")
    cell = page.get_by_test_id("tool-cell").first
    expect(cell).to_contain_text("stopped after 2 s, the time limit")
    # Its sandbox is gone with the turn: the cell does not promise kept variables.
    assert "Variables were kept" not in cell.inner_text()

    send(page, DIVIDE)
    finished(page, 1, FAILED, "failed")
    expect(state).to_have_text("Failed")
    send(page, PRINT)
    finished(page, 2, "Answered in", "answered")
    expect(state).to_have_text("Answered")

    # A reload shows the same words, from the records.
    texts = page.get_by_test_id("turn-status").all_inner_texts()
    page.reload()
    expect(page.get_by_test_id("turn-status")).to_have_text(texts)
    expect(state).to_have_text("Answered")
    assert "Variables were kept" not in page.get_by_test_id("tool-cell").first.inner_text()

    # The usage pages say each turn's state in the same words.
    conversation = Conversation.objects.get(agent=demo_agent)
    spun = Turn.objects.get(conversation=conversation, index=1)
    assert [t.state for t in conversation.turns.order_by("index")] == [
        "timed_out",
        "failed",
        "answered",
    ]
    log_in(admin_page, User.objects.get(email="admin@example.com"))
    admin_page.goto("/w/demo/usage/")
    expect(admin_page.get_by_test_id("charge-state")).to_have_text(
        ["Answered", "Failed", "Timed out"]
    )
    admin_page.goto(f"/w/demo/usage/turns/{spun.pk}/")
    expect(admin_page.get_by_test_id("turn-state")).to_have_text("Timed out")
