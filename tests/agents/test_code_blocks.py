"""Code blocks mode's translation, with a stand-in model: which blocks and command lines
become calls (only those of the tools the turn offers), and how the history is sent
back to a model that knows nothing of tool messages."""

from agents.providers.base import ChatMessage, Finish, TextDelta, ToolCallRequest
from agents.providers.code_blocks import SKILLS_NOTE, CodeBlocksProvider, as_text
from agents.tools import code, skills
from agents.tools.types import ToolSpec
from tests.conftest import run_in_new_loop

CODE_SPECS = list(code.CODE_TOOL_SPECS)
SKILL_SPECS = [ToolSpec(name, "", {}) for name in (skills.LIST, skills.READ)]


class Says:
    """A model that answers with this text, and records what it was sent."""

    label = "stand-in"

    def __init__(self, text: str):
        self.text, self.sent = text, {}

    async def stream(self, *, system, messages, tools):
        self.sent = {"system": system, "messages": messages, "tools": tools}
        yield TextDelta(self.text)
        yield Finish("stop")


def events(provider, tools) -> list:
    async def gather():
        question = [ChatMessage(role="user", content="Go.")]
        return [e async for e in provider.stream(system="Hi.", messages=question, tools=tools)]

    return run_in_new_loop(gather())


def calls(events_: list) -> list[ToolCallRequest]:
    return [e for e in events_ if isinstance(e, ToolCallRequest)]


def test_commands_and_blocks_become_calls_in_order():
    text = "/skills\n```bash\nls\n```\n/download out.csv /reports/\n/upload\n"
    inner = Says(text)
    got = events(CodeBlocksProvider(inner, auto=False), CODE_SPECS + SKILL_SPECS)
    made = calls(got)
    assert [c.name for c in made] == [skills.LIST, code.SHELL, code.DOWNLOAD, ""]
    assert made[2].arguments == {
        "sandbox_path": "out.csv",
        "drive_path": "/reports/",
        "replace": False,
    }
    assert "is not understood" in made[3].arguments_error
    assert all(c.id.startswith("block-") for c in made)
    assert got[-1] == Finish("tool_calls")
    assert inner.sent["tools"] == [] and SKILLS_NOTE in inner.sent["system"]


def test_without_code_tools_code_is_only_text():
    got = events(CodeBlocksProvider(Says("```python\nprint(1)\n```"), auto=False), [])
    assert calls(got) == [] and got[-1] == Finish("stop")


def test_the_history_goes_back_as_text_with_native_calls_kept_in_automatic_mode():
    block = ToolCallRequest("block-1", code.PYTHON, {"code": "1"})
    native = ToolCallRequest("call_9", code.PYTHON, {"code": "2"})
    history = [
        ChatMessage(role="user", content="Go."),
        ChatMessage(role="assistant", content="```python\n1\n```", tool_calls=(block,)),
        ChatMessage(role="tool", content="status: ok\n1", tool_call_id="block-1"),
        ChatMessage(role="user", content="Again."),
        ChatMessage(role="assistant", content="", tool_calls=(native,)),
        ChatMessage(role="tool", content="status: ok\n2", tool_call_id="call_9"),
    ]
    auto = as_text(history, every_call=False)
    assert [m.role for m in auto] == ["user", "assistant", "user", "assistant", "tool"]
    assert auto[2].content == "Output of your code:\nstatus: ok\n1\n\nAgain."
    assert auto[3].tool_calls == (native,)
    blocks_only = as_text(history, every_call=True)
    assert [m.role for m in blocks_only] == ["user", "assistant", "user", "assistant", "user"]
    assert blocks_only[3].content.startswith("(called _code_execute_python with")
