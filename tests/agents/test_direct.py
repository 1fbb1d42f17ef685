"""Direct mode: the user's own blocks and commands, run in order, without an LLM."""

from agents.providers.base import ChatMessage, Finish, TextDelta, ToolCallRequest
from agents.providers.direct import DirectProvider, actions_of
from agents.tools import code as tools
from tests.conftest import run_in_new_loop


def test_blocks_and_commands_are_found_in_message_order():
    text = (
        "/upload /data/q4.csv\n"
        "First:\n```python\nimport pandas\n```\n"
        "```bash\nls -l\n```\n"
        "/download out.png /charts/ --replace\n"
        "```js\nignored()\n```\n"
    )

    actions = actions_of(text)

    assert [a.name for a in actions] == [tools.UPLOAD, tools.PYTHON, tools.SHELL, tools.DOWNLOAD]
    assert actions[0].arguments == {"drive_path": "/data/q4.csv"}
    assert actions[1].arguments == {"code": "import pandas\n"}
    assert actions[2].arguments == {"command": "ls -l\n"}
    assert actions[3].arguments == {
        "sandbox_path": "out.png",
        "drive_path": "/charts/",
        "replace": True,
    }


def test_a_command_inside_a_code_block_is_code_not_a_command():
    actions = actions_of("```bash\n/upload /x\n```")
    assert [a.name for a in actions] == [tools.SHELL]


def test_a_malformed_command_is_reported_with_the_usage():
    (action,) = actions_of("/download only-one-path")
    assert action.problem.startswith("`/download only-one-path` is not understood.")
    assert "/download SANDBOX_PATH DRIVE_PATH [--replace]" in action.problem


def stream(messages, code_execution=True, refusal=""):
    async def collect():
        provider = DirectProvider(code_execution=code_execution, refusal=refusal)
        return [e async for e in provider.stream(system="", messages=messages, tools=[])]

    return run_in_new_loop(collect())


def test_it_asks_for_one_step_at_a_time_and_then_answers():
    user = ChatMessage(role="user", content="```python\n1\n```\n```python\n2\n```")
    first = stream([user])
    assert isinstance(first[0], TextDelta) and "Direct mode (no LLM)" in first[0].text
    assert first[1] == ToolCallRequest(id="direct-1", name=tools.PYTHON, arguments={"code": "1\n"})
    assert first[-1] == Finish("tool_calls")

    ok = ChatMessage(role="tool", content="status: ok (0.0 s)", tool_call_id="direct-1")
    second = stream([user, ChatMessage(role="assistant"), ok])
    assert second == [
        ToolCallRequest(id="direct-2", name=tools.PYTHON, arguments={"code": "2\n"}),
        Finish("tool_calls"),
    ]

    done = stream([user, ChatMessage(role="assistant"), ok, ChatMessage(role="assistant"), ok])
    assert "No LLM was involved" in done[0].text
    assert done[-1] == Finish("stop")


def test_it_stops_after_a_failed_step():
    user = ChatMessage(role="user", content="```python\n1/0\n```\n```python\n2\n```")
    failed = ChatMessage(role="tool", content="status: error (0.0 s)", tool_call_id="direct-1")

    events = stream([user, ChatMessage(role="assistant"), failed])

    assert "Stopped after step 1 of 2" in events[0].text
    assert events[-1] == Finish("stop")


def test_a_message_without_code_gets_the_usage_and_no_tool_call():
    events = stream([ChatMessage(role="user", content="hi")])
    assert "no model reads your message" in events[0].text
    assert "```python" in events[0].text
    assert events[-1] == Finish("stop")


def test_earlier_turns_do_not_run_again():
    old = ChatMessage(role="user", content="```python\nold\n```")
    new = ChatMessage(role="user", content="```python\nnew\n```")
    events = stream([old, ChatMessage(role="assistant", content="done"), new])
    assert events[1].arguments == {"code": "new\n"}


def test_code_it_may_not_run_is_refused_with_the_reason_it_was_given():
    user = ChatMessage(role="user", content="```python\nprint(1)\n```")
    reason = "Code execution is not available: this workspace has no active PixelML connection."

    events = stream([user], code_execution=False, refusal=reason)

    assert events == [TextDelta(f"Direct mode (no LLM): nothing ran. {reason}"), Finish("stop")]


def test_without_a_reason_it_says_the_agents_own_switch_is_off():
    user = ChatMessage(role="user", content="```python\nprint(1)\n```")

    (text, finish) = stream([user], code_execution=False)

    assert "this agent's code execution is off" in text.text
    assert "Code Execution tab" in text.text and finish == Finish("stop")
