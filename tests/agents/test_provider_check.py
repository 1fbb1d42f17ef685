"""manage.py provider_check against a scripted OpenAI-compatible server that behaves as
llama.cpp's does: its model listed by file path, an empty 200 body for streamed
tool_choice "auto", tools dropped without tool_choice, null content refused."""

import io

import pytest
from django.core.management import CommandError, call_command

from agents.providers.conformance import conformance
from tests.agents.helpers_agents import add_openai
from tests.agents.llm_server import Reply, ScriptedLLM, ToolCall

ADD = ToolCall("add", {"a": 2, "b": 3})
LLAMA_CPP_LIKE = [
    Reply.text("OK", usage=None),  # streaming, no usage
    Reply(empty=True),  # tool_choice auto, streamed
    Reply.tools(ADD),  # tool_choice auto, unstreamed
    Reply.text("2 + 3 = 5"),  # no tool_choice: tools dropped
    Reply.tools(ADD),  # forced
    Reply.http_error(500, "7 validation errors: content: Input should be a valid string"),
]


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


def test_the_table_shows_what_a_llama_cpp_like_server_supports():
    with ScriptedLLM(LLAMA_CPP_LIKE) as llm:
        rows = conformance(base_url=llm.openai_url, api_key="", model="scripted-model")
    got = {row.check: (row.ok, row.detail) for row in rows}
    assert got["models listed"] == (True, "/models/Scripted-Model.Q4_1.gguf")
    assert got["model found"][0] is True
    assert got["context size"] == (None, "not advertised")
    assert got["streaming"] == (True, "text 'OK', finish reason stop")
    assert got["usage reported"] == (False, "none")
    assert got["tool calls, tool_choice auto, streamed"][0] is False
    assert "empty stream" in got["tool calls, tool_choice auto, streamed"][1]
    assert got["tool calls, tool_choice auto, unstreamed"][0] is True
    assert got["tool calls, no tool_choice, streamed"][0] is False
    assert got["tool calls, tool_choice forcing add"][0] is True
    assert got["assistant content null accepted"][0] is False
    assert got["mode"] == (True, "native tool calls (tool_choice auto, unstreamed)")
    assert llm.requests[4]["tool_choice"] == {"type": "function", "function": {"name": "add"}}


def test_the_command_prints_the_table_for_a_connection(team):
    replies = [Reply.text("OK"), *[Reply.text("no tools") for _ in range(4)], Reply.text("5")]
    with ScriptedLLM(replies) as llm:
        connection = add_openai(team, name="Local", base_url=llm.openai_url, secret="")
        out = io.StringIO()
        call_command("provider_check", connection=connection.pk, model="x", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"“Local” at {llm.openai_url}"
    assert any(line.startswith("usage reported") and " yes " in line for line in lines)
    assert lines[-1].startswith("mode") and "code blocks" in lines[-1]


def test_the_command_refuses_an_unknown_connection(db):
    with pytest.raises(CommandError, match="There is no connection 999"):
        call_command("provider_check", connection=999)
