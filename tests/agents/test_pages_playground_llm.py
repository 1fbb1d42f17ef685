"""The playground in a real Chromium with a scripted OpenAI-compatible model: a reply
cut by the length limit is said so under the answer, live and after a reload."""

import pytest
from playwright.sync_api import expect

from agents.models import Agent
from connections import crypto
from connections.models import Connection, Kind
from tests.agents import test_pages_playground as pages
from tests.agents.llm_server import Reply, ScriptedLLM
from workspaces.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
direct_agent, asgi_login = pages.direct_agent, pages.asgi_login  # the fixtures, bound here

CUT = "The reply was cut: the model reached its output limit"


@pytest.fixture
def private_servers(settings) -> None:
    """Set before the server process is forked, which keeps the settings it saw."""
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


def test_a_reply_cut_by_the_length_limit_is_said_live_and_after_a_reload(
    private_servers, asgi_page, asgi_login, direct_agent
):
    with ScriptedLLM([Reply.text("Once upon a", finish="length")]) as llm:
        connection = Connection.objects.create(
            workspace=direct_agent.workspace,
            kind=Kind.OPENAI,
            name="scripted",
            secret_encrypted=crypto.encrypt(""),
            base_url=llm.openai_url,
        )
        Agent.objects.filter(pk=direct_agent.pk).update(connection=connection, model="m")
        asgi_login(User.objects.get(email="member@example.com"))
        asgi_page.get_by_role("link", name="Playground", exact=True).click()
        asgi_page.get_by_test_id("agent-picker").select_option(str(direct_agent.pk))
        asgi_page.get_by_test_id("new-conversation").click()
        expect(asgi_page.get_by_test_id("send")).to_be_enabled()
        pages.send(asgi_page, "Tell me a story.")
        status = asgi_page.get_by_test_id("turn-status").first
        expect(status).to_contain_text("Answered", timeout=30_000)
        expect(status).to_contain_text(CUT)
        asgi_page.reload()
        expect(asgi_page.get_by_test_id("turn-status").first).to_contain_text(CUT)
