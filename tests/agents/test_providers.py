"""The OpenAI-compatible and Anthropic providers against a real HTTP server that streams
as those APIs do (tests.agents.llm_server), through the real SDKs."""

import asyncio
import time

import pytest

from agents.providers.anthropic_messages import AnthropicProvider
from agents.providers.base import (
    ChatMessage,
    Finish,
    ProviderError,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
    Usage,
)
from agents.providers.openai_chat import OpenAIChatProvider
from agents.providers.sdk import MAX_OUTPUT_TOKENS
from connections import base_urls
from connections.masking import mask_secret
from tests.agents import llm_server
from tests.agents.llm_server import DEFAULT_USAGE, Reply, ScriptedLLM, ToolCall
from tests.conftest import run_in_new_loop
from tests.connections.fake_provider import unused_port

KEY = "sk-proj-Vb7nQ2xLmK9pRt4WzY6c"
PYTHON_TOOL = ToolSpec(
    name="_code_execute_python",
    description="Runs Python code in the sandbox.",
    parameters={"type": "object", "properties": {"code": {"type": "string"}}},
)
QUESTION = [ChatMessage(role="user", content="What is 1 + 1?")]
KINDS = ["openai", "anthropic"]

scripted_llm = llm_server.scripted_llm  # the fixture, bound here so tests can ask for it


@pytest.fixture(autouse=True)
def private_servers_allowed(settings) -> None:
    """The scripted server listens on 127.0.0.1."""
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


def provider_for(kind: str, llm: ScriptedLLM, **options):
    options = {"api_key": KEY, "model": "test-model", **options}
    if kind == "openai":
        return OpenAIChatProvider(base_url=llm.openai_url, **options)
    return AnthropicProvider(base_url=llm.url, **options)


def collect(provider, messages=QUESTION, tools=(PYTHON_TOOL,), system="Be brief.") -> list:
    async def gather() -> list:
        stream = provider.stream(system=system, messages=list(messages), tools=list(tools))
        return [event async for event in stream]

    return run_in_new_loop(gather())


def failure(provider) -> tuple[str, list]:
    """The ProviderError's message, and the events that came before it."""
    events: list = []

    async def gather() -> None:
        stream = provider.stream(system="", messages=QUESTION, tools=[PYTHON_TOOL])
        async for event in stream:
            events.append(event)

    with pytest.raises(ProviderError) as caught:
        run_in_new_loop(gather())
    return str(caught.value), events


def of_type(events: list, kind: type) -> list:
    return [event for event in events if isinstance(event, kind)]


# --- Streaming -------------------------------------------------------------------------


def test_openai_streams_text_deltas_in_order(scripted_llm):
    llm = scripted_llm([Reply.text("One ", "plus one ", "is two.")])
    events = collect(provider_for("openai", llm))
    assert events == [
        TextDelta("One "),
        TextDelta("plus one "),
        TextDelta("is two."),
        Usage(*DEFAULT_USAGE),
        Finish("stop"),
    ]


def test_anthropic_streams_text_deltas_in_order(scripted_llm):
    llm = scripted_llm([Reply.text("One ", "plus one ", "is two.")])
    events = collect(provider_for("anthropic", llm))
    assert events == [
        TextDelta("One "),
        TextDelta("plus one "),
        TextDelta("is two."),
        Usage(*DEFAULT_USAGE),
        Finish("stop"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_text_arrives_while_the_model_is_still_answering(scripted_llm, kind):
    llm = scripted_llm([Reply.hang("Let me ", "think")])

    async def first_two() -> list:
        stream = provider_for(kind, llm).stream(system="", messages=QUESTION, tools=[])
        events = [await asyncio.wait_for(anext(stream), 5) for _ in range(2)]
        await stream.aclose()
        return events

    # The server is still holding the answer open: nothing was buffered to the end.
    assert run_in_new_loop(first_two()) == [TextDelta("Let me "), TextDelta("think")]
    assert llm.hung_up.wait(5), "closing the stream early must hang up on the model"


@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_off_answer_finishes_with_length(scripted_llm, kind):
    llm = scripted_llm([Reply.text("The list goes on and", finish="length")])
    assert collect(provider_for(kind, llm))[-1] == Finish("length")


# --- Tool calls ------------------------------------------------------------------------


def test_openai_assembles_tool_call_arguments_split_across_chunks(scripted_llm):
    code = "total = 0\nfor i in range(10):\n    total += i\nprint(total)"
    llm = scripted_llm([Reply.tool("_code_execute_python", {"code": code})])
    events = collect(provider_for("openai", llm))
    assert of_type(events, ToolCallRequest) == [
        ToolCallRequest(id="call_1_0", name="_code_execute_python", arguments={"code": code})
    ]
    assert events[-1] == Finish("tool_calls")


def test_anthropic_assembles_tool_use_input_from_json_deltas(scripted_llm):
    code = "total = 0\nfor i in range(10):\n    total += i\nprint(total)"
    llm = scripted_llm([Reply.tool("_code_execute_python", {"code": code}, text="Running it.")])
    events = collect(provider_for("anthropic", llm))
    assert events == [
        TextDelta("Running it."),
        ToolCallRequest(id="call_1_0", name="_code_execute_python", arguments={"code": code}),
        Usage(*DEFAULT_USAGE),
        Finish("tool_calls"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_parallel_tool_calls_come_out_in_order_with_their_own_arguments(scripted_llm, kind):
    calls = [ToolCall("_code_execute_python", {"code": f"print({n})"}) for n in range(3)]
    llm = scripted_llm([Reply.tools(*calls)])
    requests = of_type(collect(provider_for(kind, llm)), ToolCallRequest)
    assert [(r.id, r.arguments["code"]) for r in requests] == [
        ("call_1_0", "print(0)"),
        ("call_1_1", "print(1)"),
        ("call_1_2", "print(2)"),
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        ("print(1)", "not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        ('["print(1)"]', "must be a JSON object, but the model sent a list"),
        ("null", "must be a JSON object, but the model sent null"),
    ],
)
def test_invalid_tool_arguments_are_reported_not_raised(scripted_llm, kind, sent, problem):
    llm = scripted_llm([Reply.tool("_code_execute_python", sent)])
    events = collect(provider_for(kind, llm))
    [call] = of_type(events, ToolCallRequest)
    assert (call.name, call.arguments) == ("_code_execute_python", {})
    assert problem in call.arguments_error
    assert call.arguments_error.endswith(".")
    assert events[-1] == Finish("tool_calls")


def test_openai_tolerates_servers_without_usage_ids_or_a_tool_calls_finish(scripted_llm):
    # As some local servers answer: no usage chunk, no tool call ids, "stop" after a call.
    options = {"usage": None, "tool_ids": False, "finish": "stop"}
    llm = scripted_llm([Reply.tool("_code_execute_python", {"code": "1"}, **options)])
    events = collect(provider_for("openai", llm))
    [call] = of_type(events, ToolCallRequest)
    assert call.id.startswith("call_") and len(call.id) > len("call_")
    assert call.arguments == {"code": "1"}
    assert of_type(events, Usage) == []
    assert events[-1] == Finish("tool_calls")


# --- What the model is sent ------------------------------------------------------------

TRANSCRIPT = [
    ChatMessage(role="user", content="Add 1 and 2, then 3 and 4."),
    ChatMessage(
        role="assistant",
        content="Running both.",
        tool_calls=(
            ToolCallRequest("call_a", "_code_execute_python", {"code": "print(1 + 2)"}),
            ToolCallRequest("call_b", "_code_execute_python", {"code": "print(3 + 4)"}),
        ),
    ),
    ChatMessage(role="tool", content="3\n", tool_call_id="call_a", name="_code_execute_python"),
    ChatMessage(role="tool", content="7\n", tool_call_id="call_b", name="_code_execute_python"),
]


def test_openai_request_puts_the_system_prompt_first_and_tools_as_functions(scripted_llm):
    llm = scripted_llm([Reply.text("Two.")])
    collect(provider_for("openai", llm), system="Be brief.")
    [sent] = llm.requests
    assert sent["model"] == "test-model"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 1 + 1?"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "_code_execute_python",
                "description": "Runs Python code in the sandbox.",
                "parameters": PYTHON_TOOL.parameters,
            },
        }
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_tools_are_left_out_of_the_request_when_there_are_none(scripted_llm, kind):
    llm = scripted_llm([Reply.text("Two.")])
    collect(provider_for(kind, llm), tools=())
    assert "tools" not in llm.requests[0]


def test_openai_sends_tool_calls_and_their_results_back(scripted_llm):
    llm = scripted_llm([Reply.text("3 and 7.")])
    collect(provider_for("openai", llm), messages=TRANSCRIPT, system="")
    assert llm.requests[0]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Running both.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {
                        "name": "_code_execute_python",
                        "arguments": '{"code": "print(1 + 2)"}',
                    },
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {
                        "name": "_code_execute_python",
                        "arguments": '{"code": "print(3 + 4)"}',
                    },
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "3\n"},
        {"role": "tool", "tool_call_id": "call_b", "content": "7\n"},
    ]
    assert llm.requests[0]["messages"][0]["role"] == "user"  # no empty system message


def test_anthropic_request_has_the_system_param_a_token_limit_and_input_schemas(scripted_llm):
    llm = scripted_llm([Reply.text("Two.")])
    collect(provider_for("anthropic", llm), system="Be brief.")
    [sent] = llm.requests
    assert sent["system"] == "Be brief."
    assert sent["max_tokens"] == MAX_OUTPUT_TOKENS
    assert sent["messages"] == [{"role": "user", "content": "What is 1 + 1?"}]
    assert sent["tools"] == [
        {
            "name": "_code_execute_python",
            "description": "Runs Python code in the sandbox.",
            "input_schema": PYTHON_TOOL.parameters,
        }
    ]


def test_anthropic_sends_tool_results_as_user_blocks(scripted_llm):
    llm = scripted_llm([Reply.text("3 and 7.")])
    collect(provider_for("anthropic", llm), messages=TRANSCRIPT)
    assert llm.requests[0]["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Running both."},
                {
                    "type": "tool_use",
                    "id": "call_a",
                    "name": "_code_execute_python",
                    "input": {"code": "print(1 + 2)"},
                },
                {
                    "type": "tool_use",
                    "id": "call_b",
                    "name": "_code_execute_python",
                    "input": {"code": "print(3 + 4)"},
                },
            ],
        },
        # Both results of the step in one user message.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "3\n"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "7\n"},
            ],
        },
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_a_tool_call_and_its_result_make_a_round_trip(scripted_llm, kind):
    """What one model call asks for is what the next call is told was done."""
    llm = scripted_llm(
        [Reply.tool("_code_execute_python", {"code": "print(1)"}), Reply.text("Done: 1")]
    )
    provider = provider_for(kind, llm)
    [call] = of_type(collect(provider), ToolCallRequest)
    transcript = [
        *QUESTION,
        ChatMessage(role="assistant", tool_calls=(call,)),
        ChatMessage(role="tool", content="1\n", tool_call_id=call.id, name=call.name),
    ]
    assert of_type(collect(provider, messages=transcript), TextDelta) == [TextDelta("Done: 1")]
    last = llm.requests[1]["messages"][-1]
    if kind == "openai":
        assert last == {"role": "tool", "tool_call_id": call.id, "content": "1\n"}
    else:
        result = {"type": "tool_result", "tool_use_id": call.id, "content": "1\n"}
        assert last == {"role": "user", "content": [result]}


# --- Failures --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_key_becomes_a_plain_error_without_the_key(scripted_llm, kind):
    llm = scripted_llm([Reply.http_error(401, "Incorrect API key provided: {key}.")])
    message, _ = failure(provider_for(kind, llm))
    assert KEY in llm.headers[0]["authorization"]  # the server did echo it
    assert message.startswith("The provider rejected the key (401): Incorrect API key provided")
    assert KEY not in message
    assert KEY[8:20] not in message
    assert mask_secret(KEY) in message
    assert len(llm.requests) == 1  # a wrong key is not retried


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_error_is_retried_once_then_reported(scripted_llm, kind):
    llm = scripted_llm([Reply.http_error(500, "boom"), Reply.http_error(500, "boom")])
    message, _ = failure(provider_for(kind, llm))
    assert message == "The provider had an internal error (500): boom"
    assert len(llm.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_single_server_hiccup_does_not_fail_the_call(scripted_llm, kind):
    llm = scripted_llm([Reply.http_error(503, "try again"), Reply.text("Two.")])
    assert of_type(collect(provider_for(kind, llm)), TextDelta) == [TextDelta("Two.")]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_model_is_named_in_the_error(scripted_llm, kind):
    llm = scripted_llm([Reply.http_error(404, "The model `gpt-9` does not exist.")])
    message, _ = failure(provider_for(kind, llm, model="gpt-9"))
    assert message.startswith("The provider has no model 'gpt-9'")
    assert message.endswith("(404): The model `gpt-9` does not exist.")


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_inside_the_stream_becomes_a_plain_error(scripted_llm, kind):
    llm = scripted_llm([Reply.stream_error("Overloaded, try later.", "Partial ")])
    message, before = failure(provider_for(kind, llm))
    assert before == [TextDelta("Partial ")]
    assert message == "The provider stopped with an error during the answer: Overloaded, try later."


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_server_is_a_plain_error(kind):
    base_url = f"http://127.0.0.1:{unused_port()}"
    provider_class = OpenAIChatProvider if kind == "openai" else AnthropicProvider
    provider = provider_class(base_url=base_url, api_key=KEY, model="m")
    message, _ = failure(provider)
    assert message.startswith(f"Could not reach {base_url}: connection refused")


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_that_goes_quiet_times_out_with_a_plain_error(scripted_llm, kind):
    llm = scripted_llm([Reply.hang("Thinking")])
    started = time.monotonic()
    message, before = failure(provider_for(kind, llm, timeout=0.5))
    assert time.monotonic() - started < 5
    assert before == [TextDelta("Thinking")]
    assert message == f"No answer from {provider_for(kind, llm).base_url} within 0.5 seconds."


@pytest.mark.parametrize("kind", KINDS)
def test_cancelling_a_call_hangs_up_on_the_model(scripted_llm, kind):
    llm = scripted_llm([Reply.hang("Working on it")])
    seen: list = []

    async def cancel_while_streaming() -> None:
        streaming = asyncio.Event()

        async def consume() -> None:
            stream = provider_for(kind, llm).stream(system="", messages=QUESTION, tools=[])
            async for event in stream:
                seen.append(event)
                streaming.set()

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(streaming.wait(), 5)
        task.cancel()
        # Cancellation stays cancellation: it is not turned into a ProviderError.
        with pytest.raises(asyncio.CancelledError):
            await task

    run_in_new_loop(cancel_while_streaming())
    assert seen == [TextDelta("Working on it")]
    assert llm.hung_up.wait(5)


# --- Where requests may go -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_private_base_url_is_refused_unless_allowed(scripted_llm, kind, settings):
    llm = scripted_llm([Reply.text("Two.")])
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = False
    message, _ = failure(provider_for(kind, llm))
    assert message.startswith("127.0.0.1 is a private or local address (127.0.0.1).")
    assert "TURNBOX_ALLOW_PRIVATE_BASE_URLS=true" in message
    assert llm.requests == []

    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    assert of_type(collect(provider_for(kind, llm)), TextDelta) == [TextDelta("Two.")]


@pytest.mark.parametrize("kind", KINDS)
def test_a_name_that_turns_private_after_the_check_is_refused_at_connection(
    scripted_llm, kind, settings, monkeypatch
):
    llm = scripted_llm([Reply.text("Two.")])
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = False
    # The check answers "public" (as a rebinding name would); the connection must not.
    monkeypatch.setattr(base_urls, "private_address_problem", lambda url: "")
    message, _ = failure(provider_for(kind, llm))
    assert "resolved to a private or local address (127.0.0.1)" in message
    assert llm.requests == []


def test_the_label_names_the_model_and_the_server(scripted_llm):
    llm = scripted_llm()
    assert provider_for("openai", llm, model="gpt-4o-mini").label == (
        f"OpenAI-compatible model gpt-4o-mini at {llm.openai_url}"
    )
    assert provider_for("anthropic", llm, model="claude-haiku-4-5").label == (
        f"Anthropic model claude-haiku-4-5 at {llm.url}"
    )
