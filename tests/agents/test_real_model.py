"""Whole turns with a real model server (tests.agents.real_model: llama-cpp-python's
server with SmolLM2-135M-Instruct), in both ways of running code, and the server's own
behaviour: tool_choice refused while streaming, a tool call forced with tool_choice,
null content refused, the context window overflowing, the server killed mid-answer."""

import asyncio

import pytest

from agents.models import Agent, Message, ToolMode, Turn
from agents.providers import openai_chat
from agents.providers.base import ChatMessage, ProviderError, TextDelta
from agents.providers.conformance import conformance
from agents.providers.openai_chat import OpenAIChatProvider
from agents.services.agents import agent_check_model
from connections import crypto
from connections.models import Connection, Kind
from tests.agents import real_model
from tests.agents.test_turns import run_turn
from tests.conftest import run_in_new_loop

pytestmark = pytest.mark.real_model
llama_server = real_model.llama_server  # the fixture, bound here

# A tiny model follows an example far better than a description.
CODE_INSTRUCTIONS = (
    "You answer by running Python. Reply with one Python code block and nothing else, "
    "for example:\n```python\nprint(2 + 2)\n```\nWhen you are shown the output of your "
    "code, reply with the number in words and no code."
)
NATIVE_INSTRUCTIONS = (
    "You answer by calling the _code_execute_python tool with code that prints the result."
)


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    openai_chat._TOOL_MODES.clear()


def _agent(conversation, server, mode: str, instructions: str) -> None:
    connection = Connection.objects.create(
        workspace=conversation.workspace,
        kind=Kind.OPENAI,
        name="llama.cpp",
        secret_encrypted=crypto.encrypt(""),
        base_url=server.url,
    )
    Agent.objects.filter(pk=conversation.agent_id).update(
        connection=connection,
        model="smollm2",
        tool_mode=mode,
        instructions=instructions,
        max_steps=4,
    )


@pytest.mark.usefixtures("sandbox_image", "transactional_db")
def test_code_blocks_mode_runs_the_models_python_and_answers(conversation, llama_server):
    _agent(conversation, llama_server, ToolMode.CODE_BLOCKS, CODE_INSTRUCTIONS)
    turn, sink = run_turn(conversation, "What is 6 times 7? Use Python.")
    calls = list(turn.tool_calls.all())
    assert calls and calls[0].name == "_code_execute_python", sink.text("text_delta")
    # It ran in the sandbox; whether a 135M model's code is right is another matter.
    assert calls[0].execution_id is not None and calls[0].status in ("ok", "error")
    assert calls[0].result.startswith(f"status: {calls[0].status}")
    # The output went back to the model as text, and the model went on.
    fed_back = turn.messages.filter(role="tool", tool_call_id=calls[0].call_id).exists()
    assert fed_back and turn.steps >= 2
    assert turn.status in (Turn.Status.ANSWERED, Turn.Status.STEP_LIMIT), turn.error_message


@pytest.mark.usefixtures("sandbox_image", "transactional_db")
def test_native_mode_runs_a_tool_call_of_the_real_server(conversation, llama_server):
    _agent(conversation, llama_server, ToolMode.NATIVE, NATIVE_INSTRUCTIONS)
    turn, sink = run_turn(conversation, "Print 6 times 7 with Python.")
    calls = list(turn.tool_calls.all())
    assert calls and calls[0].name == "_code_execute_python", sink.text("text_delta")
    assert turn.status in (Turn.Status.ANSWERED, Turn.Status.STEP_LIMIT), turn.error_message
    # The server refuses tool_choice "auto" while streaming: asked unstreamed instead.
    assert openai_chat._TOOL_MODES[(llama_server.url, "smollm2")] == openai_chat.UNSTREAMED


def test_the_conformance_table_tells_what_the_server_does(llama_server):
    rows = {
        row.check: row
        for row in conformance(base_url=llama_server.url, api_key="", model="smollm2")
    }
    assert rows["model found"].ok and llama_server.model in rows["model found"].detail
    assert rows["streaming"].ok
    assert rows["tool calls, tool_choice auto, streamed"].ok is False
    assert rows["tool calls, tool_choice forcing add"].ok is True
    assert rows["assistant content null accepted"].ok is False
    assert rows["mode"].ok is True


def test_a_prompt_over_the_context_window_is_told_not_silent(llama_server):
    provider = OpenAIChatProvider(base_url=llama_server.url, api_key="", model="smollm2")
    words = " ".join(["tomato"] * (real_model.CONTEXT_TOKENS + 200))

    async def ask() -> None:
        async for _ in provider.stream(
            system="", messages=[ChatMessage(role="user", content=words)], tools=[]
        ):
            pass

    with pytest.raises(ProviderError) as caught:
        run_in_new_loop(ask())
    assert "empty stream" in str(caught.value) or "context" in str(caught.value)


def test_a_server_killed_mid_answer_is_told_as_a_broken_connection():
    server = real_model.start_llama_server()
    provider = OpenAIChatProvider(base_url=server.url, api_key="", model="smollm2")
    seen: list[str] = []

    async def ask() -> None:
        question = [ChatMessage(role="user", content="Write a long story about a cat.")]
        async for event in provider.stream(system="", messages=question, tools=[]):
            if isinstance(event, TextDelta):
                seen.append(event.text)
                if len(seen) == 3:
                    server.process.kill()
                    await asyncio.sleep(0)

    try:
        with pytest.raises(ProviderError) as caught:
            run_in_new_loop(ask())
    finally:
        real_model.stop_llama_server(server)
    assert len(seen) >= 3
    assert str(caught.value).startswith(f"The connection to {server.url} broke")


@pytest.mark.usefixtures("sandbox_image", "transactional_db")
def test_a_conversation_over_the_context_drops_its_oldest_turns(conversation, llama_server):
    _agent(conversation, llama_server, ToolMode.CODE_BLOCKS, "Answer in one short sentence.")
    long_text = " ".join(["tomato"] * 700)
    for index in range(3):
        past = Turn.objects.create(
            conversation=conversation,
            index=index,
            user_message=f"{index}: {long_text}",
            status=Turn.Status.ANSWERED,
        )
        Message.objects.create(turn=past, seq=1, role="assistant", content="Noted.")
    turn, _ = run_turn(conversation, "Say hello.")
    assert turn.status in (Turn.Status.ANSWERED, Turn.Status.STEP_LIMIT), turn.error_message
    assert "oldest turns were dropped from what the model sees" in turn.error_message


@pytest.mark.usefixtures("transactional_db")
def test_check_model_finds_the_model_the_server_lists_by_its_file(conversation, llama_server):
    _agent(conversation, llama_server, ToolMode.AUTO, "")
    agent = Agent.objects.get(pk=conversation.agent_id)
    ok, message = agent_check_model(agent=agent)
    assert ok and llama_server.model in message
