"""Code blocks mode and automatic mode: whole turns where the model writes fenced code
instead of calling tools, run in Docker, against a scripted OpenAI-compatible server."""

import pytest

from agents.models import Agent, ToolMode, Turn
from agents.providers import openai_chat
from agents.providers.code_blocks import AUTO_CHOSE_BLOCKS, CODE_NOTE
from connections.models import Kind
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.test_turns import run_turn
from tests.agents.test_turns_llm import llm_agent

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")

CODE_REPLY = "Let me compute.\n```python\nx = 6 * 7\nprint(x)\n```\n```bash\necho done\n```\n"


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    openai_chat._TOOL_MODES.clear()


def _mode(conversation, mode: str) -> None:
    Agent.objects.filter(pk=conversation.agent_id).update(tool_mode=mode)


def test_code_blocks_mode_runs_the_blocks_and_feeds_their_output_back(conversation):
    with ScriptedLLM([Reply.text(CODE_REPLY), Reply.text("It is 42.")]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        _mode(conversation, ToolMode.CODE_BLOCKS)
        turn, sink = run_turn(conversation, "What is six times seven?")
    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text() == "42\ndone\n"
    assert [c.name for c in turn.tool_calls.all()] == [
        "_code_execute_python",
        "_code_execute_shell",
    ]
    first, second = llm.requests
    assert "tools" not in first and CODE_NOTE in first["messages"][0]["content"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == CODE_REPLY
    output = second["messages"][3]["content"]
    assert output.startswith("Output of your code:") and "42" in output and "done" in output
    assert turn.error_message == ""


def test_the_next_turn_sends_the_earlier_blocks_as_text(conversation):
    replies = [Reply.text(CODE_REPLY), Reply.text("42."), Reply.text("Yes.")]
    with ScriptedLLM(replies) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        _mode(conversation, ToolMode.CODE_BLOCKS)
        run_turn(conversation, "Six times seven?")
        turn, _ = run_turn(conversation, "Sure?")
    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    roles = [m["role"] for m in llm.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]


def test_automatic_mode_runs_code_written_as_text_and_says_so(conversation):
    with ScriptedLLM([Reply.text(CODE_REPLY), Reply.text("It is 42.")]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        _mode(conversation, ToolMode.AUTO)
        turn, sink = run_turn(conversation, "What is six times seven?")
    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text() == "42\ndone\n"
    assert llm.requests[0]["tools"] and llm.requests[0]["tool_choice"] == "auto"
    assert turn.error_message == AUTO_CHOSE_BLOCKS


def test_automatic_mode_uses_native_tool_calls_as_they_come(conversation):
    call = Reply.tool("_code_execute_python", {"code": "print(7)"})
    with ScriptedLLM([call, Reply.text("7.")]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, sink = run_turn(conversation, "Seven?")
    assert turn.status == Turn.Status.ANSWERED and turn.error_message == ""
    assert sink.text() == "7\n"
    assert llm.requests[1]["messages"][-1]["role"] == "tool"


def test_native_mode_leaves_code_written_as_text_alone(conversation):
    with ScriptedLLM([Reply.text(CODE_REPLY)]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        _mode(conversation, ToolMode.NATIVE)
        turn, sink = run_turn(conversation, "Six times seven?")
    assert turn.status == Turn.Status.ANSWERED and sink.text() == ""
    assert not turn.tool_calls.exists()
    assert CODE_NOTE not in llm.requests[0]["messages"][0]["content"]
