"""No silent endings: whole turns against a scripted OpenAI-compatible server that cuts
a reply at the length limit, overflows the context window, answers with an empty body,
or sends tool arguments that need repairing."""

import pytest

from agents.models import Turn
from agents.providers import openai_chat
from connections.models import Kind
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.test_turns import run_turn
from tests.agents.test_turns_llm import llm_agent

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")

OVERFLOW = "This model's maximum context length is 2048 tokens; you requested 2400."


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    openai_chat._TOOL_MODES.clear()
    yield
    openai_chat._TOOL_MODES.clear()


def test_a_reply_cut_by_the_length_limit_says_so(conversation):
    with ScriptedLLM([Reply.text("Once upon a", finish="length")]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, sink = run_turn(conversation, "Tell me a story.")
    assert turn.status == Turn.Status.ANSWERED
    assert turn.error_message.startswith("The reply was cut: the model reached its output")
    assert sink.events[-1]["message"] == turn.error_message


def test_a_conversation_too_long_for_the_context_drops_its_oldest_turns(conversation):
    earlier = [Reply.text(f"Answer {n}.") for n in range(4)]
    with ScriptedLLM(earlier) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        for n in range(4):
            run_turn(conversation, f"Question {n}")
        llm.add(Reply.http_error(400, OVERFLOW), Reply.text("Still here."))
        turn, sink = run_turn(conversation, "Question 4")
    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text("text_delta") == "Still here."
    sent = [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == ["Question 2", "Question 3", "Question 4"]
    assert "its 2 oldest turns were dropped" in turn.error_message
    assert "it saw the last 2" in turn.error_message


def test_an_empty_stream_with_nothing_to_drop_fails_in_plain_words(conversation):
    with ScriptedLLM([Reply(empty=True), Reply(empty=True)]) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, _ = run_turn(conversation, "Hello")
    assert turn.status == Turn.Status.ERROR
    assert "answered with an empty stream" in turn.error_message


def test_repaired_arguments_run_and_the_cell_shows_the_repair(conversation):
    broken = '{"code": "x = 20\nprint(x + 1)"}'
    replies = [Reply.tool("_code_execute_python", broken), Reply.text("21.")]
    with ScriptedLLM(replies) as llm:
        llm_agent(conversation, llm, Kind.OPENAI)
        turn, sink = run_turn(conversation, "Add one to twenty.")
    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text() == "21\n"
    [notice] = [e["text"] for e in sink.events if e["type"] == "notice"]
    assert notice.startswith("The model's arguments were not valid JSON; they were repaired")
    assert '"x = 20\\nprint(x + 1)"' in notice
    [call] = turn.tool_calls.all()
    assert call.arguments == {"code": "x = 20\nprint(x + 1)"}
