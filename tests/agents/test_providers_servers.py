"""The OpenAI-compatible provider against the ways local servers (llama.cpp, vLLM,
Ollama) differ from OpenAI: tool_choice refused, an empty 200 body, null content refused,
broken tool arguments, a context window overflow, a stream dropped mid-answer."""

import contextlib
import json
import socket
import threading

import pytest

from agents.providers import openai_chat
from agents.providers.base import (
    ChatMessage,
    ContextTooLong,
    EmptyReply,
    Finish,
    ProviderError,
    TextDelta,
    ToolCallRequest,
)
from agents.providers.openai_chat import AUTO, NO_CHOICE, UNSTREAMED, OpenAIChatProvider
from tests.agents import llm_server
from tests.agents.llm_server import Reply
from tests.agents.test_providers import PYTHON_TOOL, collect, of_type
from tests.conftest import run_in_new_loop

scripted_llm = llm_server.scripted_llm


@pytest.fixture(autouse=True)
def fresh_tool_modes(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    openai_chat._TOOL_MODES.clear()
    yield
    openai_chat._TOOL_MODES.clear()


def openai(url: str) -> OpenAIChatProvider:
    return OpenAIChatProvider(base_url=url, api_key="", model="m")


def raised(provider, tools=(PYTHON_TOOL,)) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        collect(provider, tools=tools)
    return caught.value


def test_tools_go_with_tool_choice_auto_and_no_tools_without_it(scripted_llm):
    llm = scripted_llm([Reply.text("a"), Reply.text("b")])
    collect(openai(llm.openai_url))
    collect(openai(llm.openai_url), tools=())
    assert llm.requests[0]["tool_choice"] == "auto"
    assert "tool_choice" not in llm.requests[1] and "tools" not in llm.requests[1]


def test_an_assistant_message_with_tool_calls_carries_empty_content_not_null(scripted_llm):
    llm = scripted_llm([Reply.text("ok")])
    call = ToolCallRequest(id="c1", name=PYTHON_TOOL.name, arguments={"code": "1"})
    messages = [
        ChatMessage(role="user", content="Run it."),
        ChatMessage(role="assistant", content="", tool_calls=(call,)),
        ChatMessage(role="tool", content="status: ok", tool_call_id="c1"),
    ]
    collect(openai(llm.openai_url), messages=messages)
    assistant = llm.requests[0]["messages"][2]
    assert assistant["role"] == "assistant" and assistant["content"] == ""


def test_an_empty_200_stream_with_tools_is_asked_again_unstreamed(scripted_llm):
    # llama.cpp's server: "Automatic streaming tool choice is not supported".
    call = llm_server.ToolCall(PYTHON_TOOL.name, {"code": "print(2)"})
    llm = scripted_llm([Reply(empty=True), Reply.tools(call, text="Running.")])
    provider = openai(llm.openai_url)
    events = collect(provider)
    assert [type(e) for e in events][:2] == [TextDelta, ToolCallRequest]
    assert of_type(events, ToolCallRequest)[0].arguments == {"code": "print(2)"}
    assert events[-1] == Finish("tool_calls")
    assert [r["stream"] for r in llm.requests] == [True, False]
    assert llm.requests[1]["tool_choice"] == "auto"
    # Remembered: the next call goes unstreamed at once.
    llm.add(Reply.text("again"))
    collect(provider)
    assert llm.requests[2]["stream"] is False and provider.tool_mode == UNSTREAMED


def test_a_server_refusing_tool_choice_is_asked_again_without_it(scripted_llm):
    refusal = Reply.http_error(400, "tool_choice 'auto' is not supported by this server.")
    llm = scripted_llm([refusal, Reply.text("Fine.")])
    provider = openai(llm.openai_url)
    assert of_type(collect(provider), TextDelta) == [TextDelta("Fine.")]
    assert "tool_choice" not in llm.requests[1] and llm.requests[1]["tools"]
    assert provider.tool_mode == NO_CHOICE


def test_other_errors_are_not_retried(scripted_llm):
    llm = scripted_llm([Reply.http_error(400, "Bad message order.")])
    error = raised(openai(llm.openai_url))
    assert "Bad message order." in str(error) and len(llm.requests) == 1
    assert openai(llm.openai_url).tool_mode == AUTO


def test_an_empty_stream_without_tools_is_an_error_that_says_what_the_server_did(
    scripted_llm,
):
    llm = scripted_llm([Reply(empty=True)])
    error = raised(openai(llm.openai_url), tools=())
    assert isinstance(error, EmptyReply)
    assert str(error).startswith(f"{llm.openai_url} answered with an empty stream")
    assert "context window" in str(error)


@pytest.mark.parametrize(
    "words",
    [
        "This model's maximum context length is 2048 tokens. However, you requested 3000.",
        "Requested tokens (2100) exceed context window of 2048",
    ],
)
def test_a_context_overflow_is_told_apart(scripted_llm, words):
    llm = scripted_llm([Reply.http_error(400, words)])
    error = raised(openai(llm.openai_url), tools=())
    assert isinstance(error, ContextTooLong) and words[:30] in str(error)


def test_a_reply_cut_by_the_length_limit_finishes_with_length(scripted_llm):
    llm = scripted_llm([Reply.text("Once upon a", finish="length")])
    assert collect(openai(llm.openai_url))[-1] == Finish("length")


@pytest.mark.parametrize(
    ("sent", "read_as"),
    [
        # A small model's multi-line code: raw newlines inside the JSON string.
        ('{"code": "x = 1\nprint(x)"}', {"code": "x = 1\nprint(x)"}),
        # Cut before its closing brace.
        ('{"code": "print(1)"', {"code": "print(1)"}),
    ],
)
def test_broken_tool_arguments_are_repaired_and_the_repair_kept(scripted_llm, sent, read_as):
    llm = scripted_llm([Reply.tool(PYTHON_TOOL.name, sent)])
    [call] = of_type(collect(openai(llm.openai_url)), ToolCallRequest)
    assert (call.arguments, call.arguments_error) == (read_as, "")
    assert json.loads(call.arguments_repaired) == read_as


def test_valid_tool_arguments_are_not_marked_repaired(scripted_llm):
    llm = scripted_llm([Reply.tool(PYTHON_TOOL.name, {"code": "a\nb"})])
    [call] = of_type(collect(openai(llm.openai_url)), ToolCallRequest)
    assert (call.arguments, call.arguments_repaired) == ({"code": "a\nb"}, "")


def _dropping_server() -> tuple[socket.socket, threading.Thread]:
    """Answers 200, streams one chunk, then closes the connection mid-answer."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        # Once: the SDK does not retry a stream that already began.
        with contextlib.suppress(OSError):
            connection, _ = server.accept()
            connection.recv(65536)
            chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
            data = f"data: {json.dumps(chunk)}\n\n".encode()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            head += b"Content-Length: 100000\r\n\r\n"
            connection.sendall(head + data)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_a_dropped_stream_says_it_broke_not_that_the_server_was_unreachable():
    server, _thread = _dropping_server()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    events: list = []

    async def gather() -> None:
        async for event in openai(url).stream(system="", messages=[], tools=[]):
            events.append(event)

    with server, pytest.raises(ProviderError) as caught:
        run_in_new_loop(gather())
    assert events == [TextDelta("Hel")]
    assert str(caught.value).startswith(f"The connection to {url} broke during the answer")
