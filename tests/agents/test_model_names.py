"""Model names matched the way servers list them, and the agent's Check model with a
llama.cpp-style server that lists its model by the path of its file."""

import pytest

from agents.providers.model_names import model_match
from agents.services import agents as services
from tests.agents.helpers_agents import add_openai, make_agent
from tests.connections.fake_provider import FakeProvider

GGUF = "/root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.parametrize(
    ("wanted", "listed", "found"),
    [
        ("gpt-4o", ("gpt-4o-mini", "gpt-4o"), "gpt-4o"),
        ("llama3", ("llama3:latest", "qwen2:7b"), "llama3:latest"),
        ("llama3:latest", ("llama3", "qwen2:7b"), "llama3"),
        ("SmolLM2", ("other.gguf", GGUF), GGUF),
        ("smollm2-135m-instruct.q4_1", ("x", GGUF), GGUF),
        ("whatever", ("the-only-one",), "the-only-one"),
    ],
)
def test_a_model_is_found_as_servers_list_it(wanted, listed, found):
    assert model_match(wanted, listed)[0] == found


def test_an_exact_name_needs_no_explanation_and_a_missing_one_is_not_found():
    assert model_match("gpt-4o", ("gpt-4o",)) == ("gpt-4o", "")
    assert model_match("gpt-5", ("gpt-4o", "gpt-4o-mini")) == ("", "")
    assert model_match("gpt-5", ()) == ("", "")


def test_check_model_accepts_a_model_listed_by_its_file_path(team, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    with FakeProvider(None, models=(GGUF,)) as server:
        local = add_openai(team, base_url=f"{server.url}/v1", secret="")
        agent = make_agent(team, connection=local, model="smollm2")
        ok, message = services.agent_check_model(agent=agent)
    assert ok, message
    assert message == (
        f"“smollm2” is available through “{local.name}” (served from the file “{GGUF}”)."
    )
