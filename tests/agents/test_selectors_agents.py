from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.http import Http404

from agents import selectors
from agents.models import Conversation, Turn
from agents.providers.conformance import ANTHROPIC_MODE_DETAIL
from agents.services import agents as services
from connections.models import Connection, Kind
from connections.services import pixelml_key_revoke
from sandbox.models import SandboxPolicy
from tests.agents.helpers_agents import add_openai, add_pixelml, make_agent


@pytest.fixture(autouse=True)
def _own_encryption_key(settings) -> None:
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def _items(agent) -> dict[str, selectors.ChecklistItem]:
    return {item.key: item for item in selectors.agent_checklist(agent=agent)}


def _answer(agent, user, status: str = Turn.Status.ANSWERED) -> Turn:
    conversation = Conversation.objects.create(workspace=agent.workspace, agent=agent, user=user)
    index = conversation.turns.count()
    return Turn.objects.create(
        conversation=conversation, index=index, user_message="hi", status=status
    )


def test_a_workspace_lists_only_its_own_agents_by_name(team, other_team):
    make_agent(team, "Zed")
    make_agent(team, "Alpha")
    make_agent(other_team, "Mine")
    names = [a.name for a in selectors.agents_of_workspace(workspace=team.workspace)]
    assert names == ["Alpha", "Zed"]


def test_an_agent_of_another_workspace_is_not_found(team, other_team):
    theirs = make_agent(other_team)
    with pytest.raises(Http404):
        selectors.agent_get(workspace=team.workspace, pk=theirs.pk)
    assert selectors.agent_get(workspace=other_team.workspace, pk=theirs.pk) == theirs


def test_only_openai_and_anthropic_connections_can_give_an_agent_its_model(team):
    openai = add_openai(team)
    add_pixelml(team)
    assert list(selectors.llm_connections_of_workspace(workspace=team.workspace)) == [openai]


def test_empty_limits_are_the_workspaces_maximums(team):
    SandboxPolicy.objects.create(
        workspace=team.workspace, max_timeout_seconds=20, max_memory_mb=256
    )
    limits, maximums = selectors.agent_limits(agent=make_agent(team, memory_mb=128))
    assert (limits.timeout_seconds, limits.memory_mb) == (20, 128)
    assert (maximums.timeout_seconds, maximums.memory_mb) == (20, 256)


def test_a_new_direct_mode_agent_has_its_connection_and_model_but_nothing_else(team):
    agent = make_agent(team)
    checklist = selectors.agent_checklist(agent=agent)
    assert [item.key for item in checklist] == [
        "connection",
        "model",
        "code_execution",
        "skills",
        "test_conversation",
    ]
    assert [item.done for item in checklist] == [True, True, False, False, False]
    items = {item.key: item for item in checklist}
    assert "Direct mode: no LLM" in items["connection"].detail
    assert items["model"].detail == "Direct mode: no model to reach."
    assert items["skills"].detail == "No skills attached yet"
    assert items["connection"].url == f"/w/acme/agents/{agent.pk}/edit/model/"
    assert items["skills"].url == f"/w/acme/agents/{agent.pk}/edit/skills/"
    assert items["test_conversation"].url == f"/w/acme/playground/?agent={agent.pk}"


def test_the_model_counts_as_reachable_only_after_a_successful_check(team):
    agent = make_agent(team, connection=add_openai(team), model="gpt-4o")
    items = _items(agent)
    assert items["connection"].done and items["connection"].detail.startswith("“OpenAI”")
    assert not items["model"].done
    assert items["model"].detail == "“gpt-4o” has not been checked yet: use Check model."
    agent.model_check_ok, agent.model_check_message = False, "The provider rejected the key."
    assert (_items(agent)["model"].done, _items(agent)["model"].detail) == (
        False,
        "The provider rejected the key.",
    )
    agent.model_check_ok, agent.model_check_message = True, "“gpt-4o” is available."
    assert _items(agent)["model"].done


def _checked(agent, mode: str, tool_mode: str):
    agent.tool_mode = tool_mode
    agent.model_check_rows = [{"check": "streaming", "ok": True, "detail": "text 'OK'"}]
    if mode:
        agent.model_check_rows.append({"check": "mode", "ok": None, "detail": mode})
    return selectors.agent_model_check(agent=agent)


@pytest.mark.parametrize(
    ("mode", "tool_mode", "uses", "said"),
    [
        ("native tool calls (tool_choice auto)", "auto", "native tool calls", "automatic will go"),
        ("code blocks: the model made no tool call", "auto", "code blocks", "code blocks the"),
        ("", "auto", "", "did not get far enough"),
        ("code blocks: the model made no tool call", "native", "native tool calls", "may never"),
        ("native tool calls (tool_choice auto)", "native", "native tool calls", "set to native"),
        ("native tool calls (tool_choice auto)", "code_blocks", "code blocks", "set to code"),
    ],
)
def test_the_last_model_check_says_which_way_code_will_run(team, mode, tool_mode, uses, said):
    agent = make_agent(team, connection=add_openai(team), model="gpt-4o")
    assert selectors.agent_model_check(agent=agent) is None  # not checked yet
    check = _checked(agent, mode, tool_mode)
    assert (check.uses, check.rows[0].check) == (uses, "streaming")
    assert said in check.why


def test_automatic_goes_native_with_anthropic_for_its_own_reason(team):
    claude = Connection.objects.create(
        workspace=team.workspace, kind=Kind.ANTHROPIC, name="Claude", secret_encrypted=""
    )
    agent = make_agent(team, connection=claude, model="claude-haiku-4-5")
    check = _checked(agent, ANTHROPIC_MODE_DETAIL, "auto")
    assert check.uses == "native tool calls"
    assert check.why.endswith("native tool calls: Anthropic's API always calls tools natively.")


def test_code_execution_is_done_only_when_on_and_paid_for(team):
    agent = make_agent(team)
    item = _items(agent)["code_execution"]
    assert not item.done
    assert item.detail.startswith("Off: code execution needs an active PixelML connection")
    assert item.url == "/w/acme/connections/"

    pixelml = add_pixelml(team)
    item = _items(agent)["code_execution"]
    assert (item.done, item.detail) == (False, "Off: switch it on in the Code Execution tab.")
    assert item.url == f"/w/acme/agents/{agent.pk}/edit/code-execution/"

    services.agent_update(agent=agent, code_execution=True)
    item = _items(agent)["code_execution"]
    assert (item.done, item.detail) == (
        True,
        "On, paid by the PixelML account “Acme Corp”: 100 credits left.",
    )

    pixelml_key_revoke(key=pixelml.pixelml_key)
    item = _items(agent)["code_execution"]
    assert not item.done and item.detail.startswith("On, but not paid for")


def test_code_execution_is_not_done_while_its_account_has_no_credits(team):
    agent = make_agent(team)
    add_pixelml(team, credits=Decimal("0"))
    services.agent_update(agent=agent, code_execution=True)

    item = _items(agent)["code_execution"]

    assert not item.done
    assert item.detail.startswith("On, but the PixelML account “Acme Corp” has no credits (0)")
    assert item.url == "/w/acme/settings/billing/"


def test_the_skills_item_reads_the_skill_count(team, monkeypatch):
    agent = make_agent(team)
    assert selectors.agent_skill_count(agent=agent) == 0
    monkeypatch.setattr(selectors, "agent_skill_count", lambda *, agent: 2)
    item = _items(agent)["skills"]
    assert (item.done, item.detail) == (True, "2 skills attached.")


def test_a_test_conversation_counts_once_the_agent_has_answered(team):
    agent = make_agent(team)
    _answer(agent, team.member, status=Turn.Status.ERROR)
    _answer(make_agent(team, "Other"), team.member)
    assert not _items(agent)["test_conversation"].done
    _answer(agent, team.admin)
    assert _items(agent)["test_conversation"].done


def test_a_socket_reaches_only_its_owners_conversation_in_that_workspace(team, other_team):
    agent = make_agent(team)
    conversation = Conversation.objects.create(
        workspace=team.workspace, agent=agent, user=team.member
    )

    def found(workspace, user):
        return selectors.conversation_of_owner(workspace=workspace, user=user, pk=conversation.pk)

    assert found(team.workspace, team.member) == conversation
    assert found(team.workspace, team.admin) is None
    assert found(other_team.workspace, team.member) is None
