"""Whole turns driven by a real model protocol: a scripted server streams what OpenAI's
and Anthropic's APIs stream, through their official SDKs, and the code runs in Docker."""

import pytest

from agents.models import Agent, Turn
from connections import crypto
from connections.models import Connection, Kind
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.test_turns import run_turn

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings) -> None:
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


def llm_agent(conversation, llm: ScriptedLLM, kind: str) -> None:
    base_url = llm.openai_url if kind == Kind.OPENAI else llm.url
    connection = Connection.objects.create(
        workspace=conversation.workspace,
        kind=kind,
        name=f"scripted {kind}",
        secret_encrypted=crypto.encrypt("sk-test-key"),
        base_url=base_url,
    )
    Agent.objects.filter(pk=conversation.agent_id).update(
        connection=connection, model="scripted-model", instructions="You analyse data."
    )


SCRIPT = [
    Reply.tool("_code_execute_python", {"code": "x = 6 * 7\nprint(x)"}, text="Let me compute."),
    Reply.tool("_code_execute_python", {"code": "print(x + 1)"}),
    Reply.text("The answer ", "is 42."),
]


@pytest.mark.parametrize("kind", [Kind.OPENAI, Kind.ANTHROPIC])
def test_a_model_runs_python_in_docker_and_answers_from_the_result(conversation, kind):
    with ScriptedLLM(SCRIPT) as llm:
        llm_agent(conversation, llm, kind)

        turn, sink = run_turn(conversation, "What is six times seven?")

    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text("text_delta") == "Let me compute.The answer is 42."
    assert sink.text() == "42\n43\n", "the second call sees the first call's variable"
    assert turn.steps == 3
    assert turn.input_tokens > 0 and turn.output_tokens > 0
    first_result = _tool_results(llm.requests[1], kind)[-1]
    assert first_result.startswith("status: ok") and "stdout:\n42" in first_result
    system = (
        llm.requests[0]["messages"][0]["content"]
        if kind == Kind.OPENAI
        else llm.requests[0]["system"]
    )
    assert "You analyse data." in system and "fresh" in system
    assert [c.status for c in turn.tool_calls.all()] == ["ok", "ok"]


def _tool_results(request: dict, kind: str) -> list[str]:
    if kind == Kind.OPENAI:
        return [m["content"] for m in request["messages"] if m["role"] == "tool"]
    blocks = [
        b
        for m in request["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
    ]
    return [_block_text(b) for b in blocks if b.get("type") == "tool_result"]


def _block_text(block: dict) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content or ""


def test_the_next_turn_gets_the_history_but_not_the_sandbox(conversation):
    replies = [
        Reply.tool("_code_execute_python", {"code": "secret = 1"}),
        Reply.text("Stored."),
        Reply.tool("_code_execute_python", {"code": "print(secret)"}),
        Reply.text("It is gone."),
    ]
    with ScriptedLLM(replies) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        first, _ = run_turn(conversation, "remember")
        second, _ = run_turn(conversation, "recall")

    history = llm.requests[2]["messages"]
    roles = [m["role"] for m in history]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert "NameError" in _tool_results(llm.requests[3], Kind.OPENAI)[-1]
    assert first.sandbox_session_id != second.sandbox_session_id


def test_a_missing_module_without_network_comes_back_saying_it_cannot_be_installed(
    conversation,
):
    replies = [
        Reply.tool("_code_execute_python", {"code": "import textblob_not_installed"}),
        Reply.text("I need a package."),
    ]
    with ScriptedLLM(replies) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        run_turn(conversation, "analyse sentiment")

    result = _tool_results(llm.requests[1], Kind.OPENAI)[-1]
    assert "error: ModuleNotFoundError" in result
    # The default policy has no network: pip could not reach the index, so no install hint.
    assert "the module textblob_not_installed is not in the sandbox" in result
    assert "network access is off for this workspace" in result
    assert "“Python packages” preset" in result


def test_a_tool_the_model_invented_is_answered_with_an_error_not_run(conversation):
    replies = [Reply.tool("rm_rf_everything", {"path": "/"}), Reply.text("Sorry.")]
    with ScriptedLLM(replies) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, _ = run_turn(conversation, "go")

    assert (
        "There is no tool named 'rm_rf_everything'"
        in _tool_results(llm.requests[1], Kind.OPENAI)[-1]
    )
    assert turn.status == Turn.Status.ANSWERED
    assert turn.sandbox_session_id is None


def test_a_rejected_key_ends_the_turn_with_a_plain_error_without_the_key(conversation):
    with ScriptedLLM([Reply.http_error(401, "Incorrect API key provided: {key}")]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, sink = run_turn(conversation, "hello")

    assert turn.status == Turn.Status.ERROR
    assert "401" in turn.error_message
    assert "sk-test-key" not in turn.error_message
    assert sink.events[-1]["type"] == "turn_finished"
