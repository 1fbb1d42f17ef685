"""Check model on the agent page, against a scripted server that behaves as llama.cpp's
does: the conformance table and the way Turnbox will run code show after the redirect,
the checks run outside any transaction, and no one of another workspace reaches them."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.urls import reverse

from agents.models import Agent
from agents.services import agents as services
from tests.agents.helpers_agents import add_openai, make_agent
from tests.agents.llm_server import ScriptedLLM
from tests.agents.test_provider_check import LLAMA_CPP_LIKE


@pytest.fixture(autouse=True)
def _own_encryption_key(settings) -> None:
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True  # the scripted server is on 127.0.0.1


@pytest.fixture
def llm():
    with ScriptedLLM(LLAMA_CPP_LIKE) as server:
        yield server


def _agent(team, llm: ScriptedLLM, tool_mode: str = "auto") -> Agent:
    local = add_openai(team, name="Local", base_url=llm.openai_url, secret="")
    agent = make_agent(team, connection=local, model="scripted-model")
    return services.agent_update(agent=agent, tool_mode=tool_mode)


def _check_url(agent: Agent, ws: str = "acme") -> str:
    return reverse("agents:check_model", kwargs={"ws": ws, "pk": agent.pk})


def test_it_shows_the_table_and_the_way_automatic_will_go(client_for, team, llm):
    agent = _agent(team, llm)
    client = client_for(team.admin)
    assert (
        'data-testid="model-check"'
        not in client.get(f"/w/acme/agents/{agent.pk}/").content.decode()
    )
    response = client.post(_check_url(agent), follow=True)
    html = response.content.decode()
    assert response.redirect_chain == [(f"/w/acme/agents/{agent.pk}/", 302)]
    assert "Checked “Analyst”. “scripted-model” is available through “Local”" in html
    assert "Turnbox will use: <strong>native tool calls</strong>." in html
    assert "automatic will go with native tool calls" in html
    assert '<tr data-check-row="tool calls, tool_choice auto, streamed">' in html
    assert '<th scope="row">Assistant content null accepted</th>' in html
    assert "native tool calls (tool_choice auto, unstreamed)" in html
    assert "2 of 5 done" in html


def test_members_see_the_last_table_but_only_admins_check(client_for, team, llm):
    agent = _agent(team, llm, tool_mode="code_blocks")
    assert client_for(team.member).post(_check_url(agent)).status_code == 403
    assert llm.requests == []
    client_for(team.admin).post(_check_url(agent))
    html = client_for(team.member).get(f"/w/acme/agents/{agent.pk}/").content.decode()
    assert "Turnbox will use: <strong>code blocks</strong>." in html
    assert "This agent is set to code blocks" in html
    assert "Check model</button>" not in html


@pytest.mark.parametrize("ws", ["acme", "globex"])
def test_another_workspace_cannot_check_or_see_the_table(client_for, team, other_team, llm, ws):
    agent = _agent(team, llm)
    client = client_for(other_team.admin)
    assert client.post(_check_url(agent, ws)).status_code == 404
    assert client.get(f"/w/{ws}/agents/{agent.pk}/").status_code == 404
    assert llm.requests == []
    agent.refresh_from_db()
    assert (agent.model_checked_at, agent.model_check_rows) == (None, [])


@pytest.mark.django_db(transaction=True)
def test_the_checks_run_outside_any_transaction(client_for, team, llm, monkeypatch):
    agent = _agent(team, llm)
    seen = []
    asked = services.conformance

    def conformance(**options):
        seen.append(connection.in_atomic_block)
        return asked(**options)

    monkeypatch.setattr(services, "conformance", conformance)
    client_for(team.admin).post(_check_url(agent))
    assert seen == [False]
    agent.refresh_from_db()
    assert agent.model_check_rows[-1]["check"] == "mode"
