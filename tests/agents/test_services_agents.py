import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from agents.models import Agent, Conversation
from agents.providers.conformance import ANTHROPIC_MODE_DETAIL
from agents.services import agents as services
from connections.models import Kind
from connections.services import connection_create, pixelml_key_revoke
from sandbox.models import SandboxPolicy
from tests.agents.helpers_agents import add_openai, add_pixelml, make_agent
from tests.agents.llm_server import ScriptedLLM
from tests.agents.test_provider_check import LLAMA_CPP_LIKE
from tests.connections.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.connections.fake_provider import FakeProvider

NEEDS_PIXELML = (
    "Code execution needs an active PixelML connection: an admin adds one under Connections."
)


@pytest.fixture(autouse=True)
def _own_encryption_key(settings) -> None:
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


@pytest.fixture
def small_sandbox(team) -> SandboxPolicy:
    return SandboxPolicy.objects.create(
        workspace=team.workspace, max_timeout_seconds=20, max_memory_mb=256
    )


@pytest.fixture
def provider(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True  # The fake provider is on 127.0.0.1.
    with FakeProvider(OPENAI_KEY) as server:
        yield server


def _create_errors(team, **fields) -> dict[str, list[str]]:
    fields.setdefault("name", "Analyst")
    with pytest.raises(ValidationError) as caught:
        services.agent_create(workspace=team.workspace, created_by=team.admin, **fields)
    return caught.value.message_dict


def _update_errors(agent, **fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        services.agent_update(agent=agent, **fields)
    return caught.value.message_dict


# --- Creating -------------------------------------------------------------------------


def test_an_agent_without_a_connection_is_in_direct_mode_with_the_defaults(team):
    agent = services.agent_create(
        workspace=team.workspace, created_by=team.admin, name=" Analyst ", model="gpt-4o"
    )
    agent.refresh_from_db()
    assert (agent.name, agent.workspace, agent.created_by) == (
        "Analyst",
        team.workspace,
        team.admin,
    )
    assert agent.is_direct and agent.model == ""  # Direct mode has no model to keep.
    assert (agent.code_execution, agent.timeout_seconds, agent.memory_mb) == (False, None, None)
    assert agent.max_steps == 12
    assert agent.created_at == agent.updated_at


def test_an_empty_model_takes_the_connections_default_and_a_typed_one_wins(team):
    openai = add_openai(team, default_model="gpt-4o-mini")
    assert make_agent(team, "A", connection=openai).model == "gpt-4o-mini"
    assert make_agent(team, "B", connection=openai, model=" gpt-4o ").model == "gpt-4o"


def test_a_connection_without_a_default_needs_a_model_name(team):
    openai = add_openai(team)
    errors = _create_errors(team, connection=openai)
    assert errors["model"] == [
        "Name the model to use: “OpenAI” has no default model "
        "(e.g. gpt-4o-mini or claude-sonnet-4-5)."
    ]


def test_names_are_unique_within_a_workspace_whatever_their_case(team, other_team):
    make_agent(team, "Analyst")
    errors = _create_errors(team, name="analyst")
    assert errors["name"] == ["This workspace already has an agent named “analyst”."]
    make_agent(other_team, "Analyst")
    assert _create_errors(team, name="  ")["name"] == ["Give the agent a name."]


def test_a_connection_of_another_workspace_is_refused(team, other_team):
    theirs = add_openai(other_team, default_model="gpt-4o")
    errors = _create_errors(team, connection=theirs)
    assert errors["connection"] == ["Choose a connection of this workspace."]


def test_a_pixelml_connection_is_no_language_model(team):
    pixelml = add_pixelml(team)
    errors = _create_errors(team, connection=pixelml, model="gpt-4o")
    assert errors["connection"][0].startswith("“PixelML” pays for code execution")


def test_code_execution_is_refused_until_the_workspace_has_an_active_pixelml_connection(team):
    errors = _create_errors(team, code_execution=True)
    assert errors["code_execution"] == [NEEDS_PIXELML]
    assert not Agent.objects.exists()
    pixelml = add_pixelml(team)
    assert make_agent(team, code_execution=True).code_execution
    pixelml_key_revoke(key=pixelml.pixelml_key)
    other = make_agent(team, "Other")
    assert _update_errors(other, code_execution=True)["code_execution"] == [NEEDS_PIXELML]


@pytest.mark.usefixtures("small_sandbox")
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"timeout_seconds": 21},
            "timeout_seconds",
            "The timeout can be at most 20 seconds, this workspace's maximum.",
        ),
        ({"timeout_seconds": 0}, "timeout_seconds", "The timeout must be at least 1 second."),
        (
            {"memory_mb": 257},
            "memory_mb",
            "The memory can be at most 256 MiB, this workspace's maximum.",
        ),
        ({"memory_mb": 63}, "memory_mb", "The memory must be at least 64 MiB."),
        ({"max_steps": 0}, "max_steps", "The step limit must be between 1 and 50."),
        ({"max_steps": 51}, "max_steps", "The step limit must be between 1 and 50."),
    ],
)
def test_limits_outside_their_range_are_refused_with_the_range(team, fields, field, message):
    assert _create_errors(team, **fields)[field] == [message]


@pytest.mark.usefixtures("small_sandbox")
def test_limits_at_the_edges_of_their_range_are_accepted(team):
    low = make_agent(team, "Low", timeout_seconds=1, memory_mb=64, max_steps=1)
    high = make_agent(team, "High", timeout_seconds=20, memory_mb=256, max_steps=50)
    assert (low.timeout_seconds, low.memory_mb, low.max_steps) == (1, 64, 1)
    assert (high.timeout_seconds, high.memory_mb, high.max_steps) == (20, 256, 50)


def test_the_operators_settings_are_the_maximum_without_a_workspace_policy(team, settings):
    settings.TURNBOX_SANDBOX_TIMEOUT_SECONDS = 30
    settings.TURNBOX_SANDBOX_MEMORY_MB = 512
    errors = _create_errors(team, timeout_seconds=31, memory_mb=513)
    assert errors["timeout_seconds"] == [
        "The timeout can be at most 30 seconds, this workspace's maximum."
    ]
    assert errors["memory_mb"] == ["The memory can be at most 512 MiB, this workspace's maximum."]


def test_every_problem_is_reported_at_once(team):
    errors = _create_errors(team, name="", code_execution=True, max_steps=99)
    assert set(errors) == {"name", "code_execution", "max_steps"}


def test_a_too_long_description_is_refused_by_the_models_limit(team):
    errors = _create_errors(team, description="x" * 301)
    assert "at most 300 characters" in errors["description"][0]


# --- Updating -------------------------------------------------------------------------


def test_updating_saves_the_fields_and_the_time(team):
    agent = make_agent(team)
    before = agent.updated_at
    services.agent_update(agent=agent, name="Data analyst", instructions="  Be brief.\n")
    agent.refresh_from_db()
    assert (agent.name, agent.instructions) == ("Data analyst", "Be brief.")
    assert agent.updated_at > before


def test_updating_refuses_fields_that_are_not_settings(team):
    agent = make_agent(team)
    with pytest.raises(TypeError, match="cannot change workspace"):
        services.agent_update(agent=agent, workspace=None)


def test_a_refused_update_leaves_the_agent_as_stored(team):
    make_agent(team, "Taken")
    agent = make_agent(team, "Analyst")
    errors = _update_errors(agent, name="Taken", max_steps=7)
    assert errors["name"] == ["This workspace already has an agent named “Taken”."]
    assert (agent.name, agent.max_steps) == ("Analyst", 12)
    agent.refresh_from_db()
    assert (agent.name, agent.max_steps) == ("Analyst", 12)


def test_an_agent_keeps_its_own_name_when_saved_again(team):
    agent = make_agent(team, "Analyst")
    services.agent_update(agent=agent, name="ANALYST")
    assert agent.name == "ANALYST"


def test_switching_to_direct_mode_drops_the_model(team):
    agent = make_agent(team, connection=add_openai(team), model="gpt-4o")
    services.agent_update(agent=agent, connection=None)
    agent.refresh_from_db()
    assert (agent.connection, agent.model) == (None, "")


def test_another_model_forgets_the_last_check(team, provider):
    openai = add_openai(team, base_url=f"{provider.url}/v1")
    agent = make_agent(team, connection=openai, model="gpt-4o")
    services.agent_check_model(agent=agent)
    assert agent.model_check_ok is True
    services.agent_update(agent=agent, description="Still the same model")
    assert agent.model_checked_at is not None
    services.agent_update(agent=agent, model="gpt-4o-mini")
    agent.refresh_from_db()
    assert (agent.model_checked_at, agent.model_check_ok, agent.model_check_message) == (
        None,
        None,
        "",
    )
    assert agent.model_check_rows == []


def test_an_agent_that_lost_its_pixelml_connection_can_still_be_edited_and_switched_off(team):
    pixelml = add_pixelml(team)
    agent = make_agent(team, code_execution=True)
    pixelml_key_revoke(key=pixelml.pixelml_key)
    services.agent_update(agent=agent, name="Renamed", code_execution=True)
    services.agent_update(agent=agent, code_execution=False)
    agent.refresh_from_db()
    assert (agent.name, agent.code_execution) == ("Renamed", False)


def test_limits_kept_as_they_were_stay_valid_after_the_workspace_lowers_its_maximums(team):
    agent = make_agent(team, timeout_seconds=25, memory_mb=400)
    SandboxPolicy.objects.create(
        workspace=team.workspace, max_timeout_seconds=10, max_memory_mb=128
    )
    services.agent_update(agent=agent, name="Renamed", timeout_seconds=25, memory_mb=400)
    errors = _update_errors(agent, timeout_seconds=24)
    assert errors["timeout_seconds"] == [
        "The timeout can be at most 10 seconds, this workspace's maximum."
    ]


# --- Deleting -------------------------------------------------------------------------


def test_deleting_an_agent_deletes_its_conversations(team):
    agent = make_agent(team)
    Conversation.objects.create(workspace=team.workspace, agent=agent, user=team.member)
    services.agent_delete(agent=agent)
    assert not Agent.objects.exists() and not Conversation.objects.exists()


# --- Checking the model ---------------------------------------------------------------


def test_direct_mode_always_passes_the_model_check(team):
    agent = make_agent(team)
    assert services.agent_check_model(agent=agent) == (True, "Direct mode: no model to reach")
    agent.refresh_from_db()
    assert agent.model_check_ok is True
    assert agent.model_check_message == "Direct mode: no model to reach"
    assert agent.model_checked_at is not None


def test_a_model_the_provider_lists_is_reachable(team, provider):
    openai = add_openai(team, base_url=f"{provider.url}/v1")
    agent = make_agent(team, connection=openai, model="gpt-4o")
    ok, message = services.agent_check_model(agent=agent)
    assert (ok, message) == (True, "“gpt-4o” is available through “OpenAI”.")
    assert provider.requests[0]["path"] == "/v1/models"
    agent.refresh_from_db()
    assert (agent.model_check_ok, agent.model_check_message) == (True, message)


def test_a_model_the_provider_does_not_list_is_not_reachable(team, provider):
    openai = add_openai(team, base_url=f"{provider.url}/v1")
    agent = make_agent(team, connection=openai, model="gpt-5-turbo")
    ok, message = services.agent_check_model(agent=agent)
    assert not ok
    assert message == (
        "“OpenAI” works, but its provider does not list the model “gpt-5-turbo”. "
        "It lists: gpt-4o-mini, gpt-4o."
    )
    agent.refresh_from_db()
    assert agent.model_check_ok is False


def test_a_rejected_key_fails_the_check_without_showing_the_key(team, provider):
    wrong = "sk-proj-WrongWrongWrong9876"
    openai = add_openai(team, base_url=f"{provider.url}/v1", secret=wrong)
    agent = make_agent(team, connection=openai, model="gpt-4o")
    ok, message = services.agent_check_model(agent=agent)
    assert not ok
    assert message.startswith("“OpenAI” could not list its models. The provider rejected the key")
    assert wrong not in message


def test_it_keeps_the_conformance_table_of_an_openai_compatible_server(team, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    with ScriptedLLM(LLAMA_CPP_LIKE) as llm:
        local = add_openai(team, name="Local", base_url=llm.openai_url, secret="")
        agent = make_agent(team, connection=local, model="scripted-model")
        ok, message = services.agent_check_model(agent=agent)
    assert ok and message.startswith("“scripted-model” is available through “Local”")
    agent.refresh_from_db()
    rows = {row["check"]: (row["ok"], row["detail"]) for row in agent.model_check_rows}
    assert list(rows)[:3] == ["models listed", "model found", "context size"]
    assert rows["tool calls, tool_choice auto, streamed"][0] is False
    assert rows["assistant content null accepted"][0] is False
    assert rows["mode"] == (True, "native tool calls (tool_choice auto, unstreamed)")


def test_it_shows_an_anthropic_listing_in_the_same_table_shape(team, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    with FakeProvider(ANTHROPIC_KEY) as server:
        claude = connection_create(
            workspace=team.workspace,
            kind=Kind.ANTHROPIC,
            name="Claude",
            secret=ANTHROPIC_KEY,
            base_url=server.url,
        )
        agent = make_agent(team, connection=claude, model="claude-haiku-4-5")
        ok, _ = services.agent_check_model(agent=agent)
    assert ok
    assert [r["path"] for r in server.requests] == ["/v1/models"]  # nothing more is asked
    assert agent.model_check_rows == [
        {"check": "models listed", "ok": True, "detail": "claude-sonnet-4-5, claude-haiku-4-5"},
        {"check": "model found", "ok": True, "detail": "“claude-haiku-4-5” listed as is"},
        {"check": "mode", "ok": True, "detail": ANTHROPIC_MODE_DETAIL},
    ]


def test_a_server_that_cannot_list_its_models_is_asked_nothing_more(team, provider):
    wrong = "sk-proj-WrongWrongWrong9876"
    openai = add_openai(team, base_url=f"{provider.url}/v1", secret=wrong)
    agent = make_agent(team, connection=openai, model="gpt-4o")
    services.agent_check_model(agent=agent)
    assert [r["path"] for r in provider.requests] == ["/v1/models"]
    agent.refresh_from_db()
    [row] = agent.model_check_rows
    assert (row["check"], row["ok"]) == ("models listed", False)
    assert row["detail"].startswith("The provider rejected the key") and wrong not in row["detail"]
