"""Big inputs in the playground, in a real Chromium: a message over the limit is stopped
in the browser with the text kept; a recorded 100,000-character message opens collapsed,
its code not highlighted, and "Show all" shows everything."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from agents.models import Agent, Conversation, ToolCall, Turn
from agents.services.turns import MAX_MESSAGE_CHARS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE = "total = 0\n" + "total += 1  # a long script\n" * 3570
MESSAGE = f"```python\n{CODE}```"


@pytest.fixture
def big_conversation(team) -> Conversation:
    agent = Agent.objects.create(workspace=team.workspace, name="Direct", code_execution=True)
    chat = Conversation.objects.create(workspace=team.workspace, agent=agent, user=team.member)
    turn = Turn.objects.create(
        conversation=chat, index=1, user_message=MESSAGE, status=Turn.Status.ANSWERED
    )
    ToolCall.objects.create(
        turn=turn, seq=1, call_id="c1", name="_code_execute_python",
        arguments={"code": CODE}, status="ok", duration_ms=5,
        output=[{"type": "stdout", "text": "3570\n"}],
    )  # fmt: skip
    return chat


def open_conversation(page, chat) -> None:
    kwargs = {"ws": chat.workspace.slug, "pk": chat.pk}
    page.goto(reverse("playground:conversation", kwargs=kwargs))


def test_a_huge_message_opens_collapsed_and_unhighlighted_and_shows_in_full(
    page, login, team, big_conversation
):
    assert 90_000 < len(MESSAGE) <= MAX_MESSAGE_CHARS
    login(team.member)
    open_conversation(page, big_conversation)
    bubble = page.get_by_test_id("user-message")
    expect(bubble).to_have_class("bubble user is-collapsed")
    code = page.locator("pre.tool-code code")
    expect(code).to_have_attribute("data-highlighted", "skipped")
    assert code.locator("span").count() == 0
    show = bubble.locator("xpath=following-sibling::button[1]")
    expect(show).to_have_text(f"Show all {len(MESSAGE):,} characters")
    show.click()
    expect(bubble).to_have_class("bubble user")
    assert len(bubble.inner_text()) > 90_000


def test_a_message_over_the_limit_is_stopped_in_the_browser_and_kept(
    asgi_page, team, big_conversation
):
    page = asgi_page
    page.goto("/login/")
    page.get_by_label("Email").fill(team.member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[data-testid=current-workspace]")
    open_conversation(page, big_conversation)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    box = page.get_by_test_id("message-input")
    box.fill("x" * (MAX_MESSAGE_CHARS + 1))
    counter = page.get_by_test_id("message-counter")
    expect(counter).to_have_text(
        f"{MAX_MESSAGE_CHARS + 1:,} characters: at most {MAX_MESSAGE_CHARS:,} can be sent"
    )
    expect(page.get_by_test_id("send")).to_be_disabled()
    box.press("Enter")
    assert Turn.objects.filter(conversation=big_conversation).count() == 1
    assert len(box.input_value()) == MAX_MESSAGE_CHARS + 1
    box.fill("short")
    expect(counter).to_be_hidden()
    expect(page.get_by_test_id("send")).to_be_enabled()
