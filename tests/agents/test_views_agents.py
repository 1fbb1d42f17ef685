import re

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from agents.models import Agent
from sandbox.models import SandboxPolicy
from tests.agents.helpers_agents import add_openai, add_pixelml, make_agent
from tests.connections.conftest import OPENAI_KEY
from tests.connections.fake_provider import FakeProvider

NEEDS_PIXELML = (
    "Code execution needs an active PixelML connection: an admin adds one under Connections."
)
TABS = ["basics", "model", "instructions", "skills", "code-execution"]


@pytest.fixture(autouse=True)
def _own_encryption_key(settings) -> None:
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


@pytest.fixture
def agent(team) -> Agent:
    return make_agent(team, "Analyst", description="Answers questions about data")


def _tab(pk: int, tab: str, ws: str = "acme") -> str:
    return reverse("agents:edit_tab", kwargs={"ws": ws, "pk": pk, "tab": tab})


def _member_urls(ws: str, pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("agents:list", kwargs={"ws": ws})),
        ("get", reverse("agents:detail", kwargs={"ws": ws, "pk": pk})),
    ]


def _admin_urls(ws: str, pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("agents:create", kwargs={"ws": ws})),
        ("post", reverse("agents:create", kwargs={"ws": ws})),
        ("get", reverse("agents:edit", kwargs={"ws": ws, "pk": pk})),
        *(("get", _tab(pk, tab, ws)) for tab in TABS),
        *(("post", _tab(pk, tab, ws)) for tab in TABS if tab != "skills"),
        ("post", reverse("agents:check_model", kwargs={"ws": ws, "pk": pk})),
        ("post", reverse("agents:delete", kwargs={"ws": ws, "pk": pk})),
    ]


def _html(response) -> str:
    return response.content.decode()


# --- Who may see what -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_the_workspace_is_hidden_from_members_of_another(client_for, other_team, agent, role):
    client = client_for(other_team.user(role))
    for method, url in _member_urls("acme", agent.pk) + _admin_urls("acme", agent.pk):
        assert getattr(client, method)(url).status_code == 404, url
    assert Agent.objects.filter(pk=agent.pk, name="Analyst").exists()


def test_an_agent_is_not_found_through_another_workspace(client_for, other_team, agent):
    client = client_for(other_team.admin)
    naming_the_agent = _member_urls("globex", agent.pk)[1:] + _admin_urls("globex", agent.pk)[2:]
    for method, url in naming_the_agent:
        assert getattr(client, method)(url).status_code == 404, url
    agent.refresh_from_db()
    assert (agent.model_checked_at, agent.model_check_rows) == (None, [])


def test_finance_sees_no_agent_pages_as_with_drive(client_for, team, agent):
    client = client_for(team.finance)
    for method, url in _member_urls("acme", agent.pk) + _admin_urls("acme", agent.pk):
        assert getattr(client, method)(url).status_code == 403, url
    assert 'href="/w/acme/agents/"' not in _html(client.get("/w/acme/"))


def test_members_see_agents_but_cannot_change_them(client_for, team, agent):
    client = client_for(team.member)
    for _method, url in _member_urls("acme", agent.pk):
        assert client.get(url).status_code == 200, url
    for method, url in _admin_urls("acme", agent.pk):
        assert getattr(client, method)(url).status_code == 403, url
    assert Agent.objects.filter(pk=agent.pk, name="Analyst").exists()


def test_anonymous_visitors_are_sent_to_log_in(client, agent):
    response = client.get(reverse("agents:list", kwargs={"ws": "acme"}))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_sidebar_links_to_agents_for_admins_and_members(client_for, team, role):
    html = _html(client_for(team.user(role)).get("/w/acme/"))
    assert '<a href="/w/acme/agents/" class="">Agents</a>' in html
    html = _html(client_for(team.user(role)).get("/w/acme/agents/"))
    assert '<a href="/w/acme/agents/" class="active">Agents</a>' in html


# --- The list and the agent page ------------------------------------------------------


def test_the_list_explains_agents_when_there_are_none(client_for, team):
    admin_html = _html(client_for(team.admin).get("/w/acme/agents/"))
    assert "No agents yet" in admin_html and 'href="/w/acme/agents/new/"' in admin_html
    member_html = _html(client_for(team.member).get("/w/acme/agents/"))
    assert "Workspace admins create them." in member_html
    assert "/w/acme/agents/new/" not in member_html


def test_admins_get_the_edit_and_delete_actions_and_members_do_not(client_for, team, agent):
    admin_html = _html(client_for(team.admin).get("/w/acme/agents/"))
    assert f'href="/w/acme/agents/{agent.pk}/edit/"' in admin_html
    assert 'data-confirm="Delete the agent “Analyst”' in admin_html
    assert "New agent" in admin_html
    member_html = _html(client_for(team.member).get("/w/acme/agents/"))
    assert f'href="/w/acme/agents/{agent.pk}/"' in member_html
    assert "Answers questions about data" in member_html and "Direct mode" in member_html
    assert "/edit/" not in member_html and "Delete" not in member_html
    assert "New agent" not in member_html


def test_the_agent_page_shows_the_checklist_and_the_playground_link(client_for, team, agent):
    html = _html(client_for(team.admin).get(f"/w/acme/agents/{agent.pk}/"))
    assert f'href="/w/acme/playground/?agent={agent.pk}"' in html
    assert "Deploy checklist" in html and "2 of 5 done" in html
    assert "No skills attached yet" in html
    # Direct mode calls no model: nothing to check, and its steps are code blocks.
    assert "check-model" not in html
    assert "12 code blocks run per message (no model is called)" in html
    Agent.objects.filter(pk=agent.pk).update(
        connection=add_openai(team, default_model="gpt-4o-mini"), model="gpt-4o-mini"
    )
    html = _html(client_for(team.admin).get(f"/w/acme/agents/{agent.pk}/"))
    assert "check-model" in html and "model calls per message" in html
    member_html = _html(client_for(team.member).get(f"/w/acme/agents/{agent.pk}/"))
    assert f'href="/w/acme/playground/?agent={agent.pk}"' in member_html
    assert "check-model" not in member_html and "/edit/" not in member_html


# --- Creating -------------------------------------------------------------------------


def test_an_admin_creates_an_agent_and_lands_on_its_page(client_for, team):
    openai = add_openai(team, default_model="gpt-4o-mini")
    response = client_for(team.admin).post(
        "/w/acme/agents/new/",
        {"name": "Analyst", "description": "Data", "connection": openai.pk, "model": ""},
        follow=True,
    )
    created = Agent.objects.get()
    assert response.redirect_chain == [(f"/w/acme/agents/{created.pk}/", 302)]
    assert "Agent “Analyst” created." in _html(response)
    assert (created.workspace, created.created_by) == (team.workspace, team.admin)
    assert (created.connection, created.model) == (openai, "gpt-4o-mini")


def test_the_create_form_offers_llm_connections_and_direct_mode_only(client_for, team):
    add_openai(team, default_model="gpt-4o-mini")
    add_pixelml(team)
    html = _html(client_for(team.admin).get("/w/acme/agents/new/"))
    options = re.findall(r"<option[^>]*>([^<]*)</option>", html)
    assert options == ["Direct mode (no LLM)", "OpenAI (OpenAI or OpenAI-compatible)"]
    assert 'data-default-model="gpt-4o-mini"' in html


def test_a_refused_agent_comes_back_with_the_message_and_what_was_typed(client_for, team):
    make_agent(team, "Analyst")
    response = client_for(team.admin).post(
        "/w/acme/agents/new/", {"name": "analyst", "description": "Second try"}
    )
    html = _html(response)
    assert response.status_code == 400
    assert "This workspace already has an agent named “analyst”." in html
    assert 'value="Second try"' in html
    assert Agent.objects.count() == 1


def test_a_connection_of_another_workspace_cannot_be_chosen(client_for, team, other_team):
    theirs = add_openai(other_team, default_model="gpt-4o")
    response = client_for(team.admin).post(
        "/w/acme/agents/new/", {"name": "Analyst", "connection": theirs.pk}
    )
    assert response.status_code == 400
    assert "Select a valid choice." in _html(response)
    assert not Agent.objects.exists()


# --- The editor -----------------------------------------------------------------------


def test_edit_opens_the_basics_tab(client_for, team, agent):
    response = client_for(team.admin).get(f"/w/acme/agents/{agent.pk}/edit/")
    assert response["Location"] == _tab(agent.pk, "basics")


@pytest.mark.parametrize("tab", TABS)
def test_each_tab_is_a_link_marked_as_the_current_tab(client_for, team, agent, tab):
    html = _html(client_for(team.admin).get(_tab(agent.pk, tab)))
    assert 'role="tablist"' in html
    current = re.findall(r'<a role="tab"[^>]*aria-current="page"[^>]*>([^<]*)</a>', html)
    assert len(current) == 1
    assert f'href="{_tab(agent.pk, tab)}" aria-selected="true" aria-current="page"' in html
    assert html.count('aria-selected="false"') == len(TABS) - 1
    assert f'role="tabpanel" id="tab-panel" aria-labelledby="tab-{tab}"' in html


def test_an_unknown_tab_is_not_found_and_the_skills_tab_takes_no_post(client_for, team, agent):
    client = client_for(team.admin)
    assert client.get(_tab(agent.pk, "secrets")).status_code == 404
    assert client.post(_tab(agent.pk, "skills")).status_code == 405


def test_saving_a_tab_returns_to_it_with_a_message(client_for, team, agent):
    client = client_for(team.admin)
    response = client.post(
        _tab(agent.pk, "basics"), {"name": "Data analyst", "description": ""}, follow=True
    )
    assert response.redirect_chain == [(_tab(agent.pk, "basics"), 302)]
    assert "Basics of “Data analyst” saved." in _html(response)
    response = client.post(
        _tab(agent.pk, "instructions"), {"instructions": "Answer in French."}, follow=True
    )
    assert "Instructions of “Data analyst” saved." in _html(response)
    agent.refresh_from_db()
    assert (agent.name, agent.description, agent.instructions) == (
        "Data analyst",
        "",
        "Answer in French.",
    )


def test_the_model_tab_chooses_a_connection_with_its_default_model(client_for, team, agent):
    openai = add_openai(team, default_model="gpt-4o-mini")
    client = client_for(team.admin)
    html = _html(client.get(_tab(agent.pk, "model")))
    assert '<option value="" selected data-default-model="">Direct mode (no LLM)</option>' in html
    client.post(_tab(agent.pk, "model"), {"connection": openai.pk, "model": "", "max_steps": 8})
    agent.refresh_from_db()
    assert (agent.connection, agent.model, agent.max_steps) == (openai, "gpt-4o-mini", 8)
    html = _html(client.get(_tab(agent.pk, "model")))
    assert 'placeholder="gpt-4o-mini"' in html


def test_the_model_tab_needs_a_model_name_without_a_default(client_for, team, agent):
    openai = add_openai(team)
    response = client_for(team.admin).post(
        _tab(agent.pk, "model"), {"connection": openai.pk, "model": "", "max_steps": 51}
    )
    html = _html(response)
    assert response.status_code == 400
    assert "Name the model to use: “OpenAI” has no default model" in html
    assert "The step limit must be between 1 and 50." in html
    assert 'value="51"' in html
    agent.refresh_from_db()
    assert agent.is_direct


def test_the_skills_tab_says_there_are_no_skills_and_which_capabilities_are_on(
    client_for, team, agent
):
    html = _html(client_for(team.admin).get(_tab(agent.pk, "skills")))
    assert "No skills attached yet." in html
    assert (
        'data-capability="code-execution"' in html and '<span class="badge off">Off</span>' in html
    )
    assert f'href="{_tab(agent.pk, "code-execution")}"' in html


# --- Code execution -------------------------------------------------------------------


def test_without_pixelml_the_toggle_is_disabled_and_explained(client_for, team, agent):
    html = _html(client_for(team.admin).get(_tab(agent.pk, "code-execution")))
    assert re.search(
        r'<input type="checkbox" name="code_execution" role="switch" [^>]*disabled', html
    )
    assert "Code execution needs an active PixelML connection" in html
    assert 'href="/w/acme/connections/"' in html


def test_a_forged_switch_on_without_pixelml_is_refused_with_the_reason(client_for, team, agent):
    response = client_for(team.admin).post(
        _tab(agent.pk, "code-execution"), {"code_execution": "on", "timeout_seconds": "10"}
    )
    html = _html(response)
    assert response.status_code == 400
    assert f'<small class="error">{NEEDS_PIXELML}</small>' in html
    assert 'value="10"' in html
    agent.refresh_from_db()
    assert (agent.code_execution, agent.timeout_seconds) == (False, None)


def test_with_pixelml_an_admin_switches_code_execution_on(client_for, team, agent):
    add_pixelml(team)
    client = client_for(team.admin)
    html = _html(client.get(_tab(agent.pk, "code-execution")))
    assert "disabled" not in re.search(r'<input type="checkbox"[^>]*>', html).group(0)
    assert "Code execution needs" not in html
    response = client.post(
        _tab(agent.pk, "code-execution"),
        {"code_execution": "on", "timeout_seconds": "", "memory_mb": "256"},
        follow=True,
    )
    assert "Code Execution of “Analyst” saved." in _html(response)
    agent.refresh_from_db()
    assert (agent.code_execution, agent.timeout_seconds, agent.memory_mb) == (True, None, 256)


def test_limits_above_the_workspace_maximum_are_refused_with_the_maximum(client_for, team, agent):
    SandboxPolicy.objects.create(
        workspace=team.workspace, max_timeout_seconds=20, max_memory_mb=256
    )
    client = client_for(team.admin)
    html = _html(client.get(_tab(agent.pk, "code-execution")))
    assert "This workspace's maximums: 20 s and 256 MiB." in html
    response = client.post(
        _tab(agent.pk, "code-execution"), {"timeout_seconds": "21", "memory_mb": "1024"}
    )
    html = _html(response)
    assert response.status_code == 400
    assert "The timeout can be at most 20 seconds, this workspace&#x27;s maximum." in html
    assert "The memory can be at most 256 MiB, this workspace&#x27;s maximum." in html
    assert 'value="21"' in html and 'value="1024"' in html
    agent.refresh_from_db()
    assert (agent.timeout_seconds, agent.memory_mb) == (None, None)


# --- Checking the model and deleting --------------------------------------------------


def test_an_admin_checks_the_model_and_the_checklist_follows(client_for, team, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    client = client_for(team.admin)
    with FakeProvider(OPENAI_KEY) as server:
        openai = add_openai(team, base_url=f"{server.url}/v1")
        agent = make_agent(team, connection=openai, model="gpt-4o")
        url = reverse("agents:check_model", kwargs={"ws": "acme", "pk": agent.pk})
        assert client.get(url).status_code == 405
        html = _html(client.get(f"/w/acme/agents/{agent.pk}/"))
        assert "has not been checked yet" in html and "1 of 5 done" in html
        response = client.post(url, follow=True)
    html = _html(response)
    assert response.redirect_chain == [(f"/w/acme/agents/{agent.pk}/", 302)]
    assert "Checked “Analyst”. “gpt-4o” is available through “OpenAI”." in html
    assert "2 of 5 done" in html


def test_a_failed_model_check_is_shown_as_an_error(client_for, team, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    with FakeProvider(OPENAI_KEY) as server:
        openai = add_openai(team, base_url=f"{server.url}/v1")
        agent = make_agent(team, connection=openai, model="gpt-9")
        url = reverse("agents:check_model", kwargs={"ws": "acme", "pk": agent.pk})
        html = _html(client_for(team.admin).post(url, follow=True))
    assert 'class="message error"' in html
    assert "Checked “Analyst”: the model is not reachable." in html


def test_an_admin_deletes_an_agent(client_for, team, agent):
    client = client_for(team.admin)
    url = reverse("agents:delete", kwargs={"ws": "acme", "pk": agent.pk})
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert response.redirect_chain == [("/w/acme/agents/", 302)]
    assert "Agent “Analyst” deleted." in _html(response)
    assert not Agent.objects.exists()


def test_the_model_tab_sets_how_the_model_runs_code(client_for, team, agent):
    openai = add_openai(team, default_model="gpt-4o-mini")
    client = client_for(team.admin)
    data = {"connection": openai.pk, "model": "", "max_steps": 5, "tool_mode": "code_blocks"}
    client.post(_tab(agent.pk, "model"), data)
    agent.refresh_from_db()
    assert agent.tool_mode == "code_blocks"
    html = _html(client.get(_tab(agent.pk, "model")))
    assert "How the model runs code" in html
    assert '<option value="code_blocks" selected>Code blocks</option>' in html
