"""Code blocks mode: for models and servers that cannot call tools (as smolagents'
CodeAgent and Open Interpreter do). The model writes fenced ```python and ```bash blocks
and the command lines Direct mode understands (/upload, /download, /skills, /skill);
once its reply is complete they become tool calls, which the turn loop runs in the
turn's sandbox as usual. Their results go back to the model as a user message, since
such a server knows nothing of tool messages. The loop goes on until a reply has no
code, or the step limit.

Automatic mode offers the tools as well: a reply with tool calls is used as it is, and
a reply without any but with code blocks is run as code blocks.
"""

import uuid
from collections.abc import AsyncIterator

from agents.providers.base import (
    ChatMessage,
    Finish,
    LLMProvider,
    ProviderEvent,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
)
from agents.providers.direct import actions_of
from agents.tools import code as code_tools
from agents.tools import skills as skill_tools

# Calls made from code blocks carry this id prefix, so their history is sent back as text.
BLOCK_ID = "block-"
CODE_NOTE = """\
To run code, write it in fenced blocks: ```python for Python (a Jupyter kernel: \
variables, imports and files persist between blocks within this turn) or ```bash for a \
shell command, in /workspace. When your reply is complete every block runs, in order, \
in this turn's sandbox, and you are sent their output; then go on. Write no code block \
in your final answer. On a line of its own outside the blocks, \
`/upload DRIVE_PATH [SANDBOX_PATH]` copies a file of the workspace's Drive into the \
sandbox and `/download SANDBOX_PATH DRIVE_PATH [--replace]` saves a sandbox file to \
Drive."""
SKILLS_NOTE = (
    "`/skills` on a line of its own lists your skills, and `/skill NAME PATH` shows one "
    "file of one."
)
AUTO_CHOSE_BLOCKS = (
    "Automatic mode: the model wrote code as text instead of calling tools, so its code "
    "blocks were run (code blocks mode)."
)


class CodeBlocksProvider:
    """Wraps an LLM provider; ``auto`` also offers the tools (automatic mode)."""

    def __init__(self, inner: LLMProvider, *, auto: bool):
        self.inner = inner
        self.auto = auto
        self.label = f"{inner.label} ({'automatic' if auto else 'code blocks'})"
        # Told at the end of the turn: which way automatic mode went.
        self.note = ""

    async def stream(
        self, *, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> AsyncIterator[ProviderEvent]:
        offered = {tool.name for tool in tools}
        runs_code = code_tools.PYTHON in offered
        notes = [CODE_NOTE] if runs_code else []
        if skill_tools.READ in offered:
            notes.append(SKILLS_NOTE)
        if notes:
            system = "\n\n".join([system, *notes]) if system else "\n\n".join(notes)
        text, calls, finish = "", [], ""
        events = self.inner.stream(
            system=system,
            messages=as_text(messages, every_call=not self.auto),
            tools=tools if self.auto else [],
        )
        async for event in events:
            if isinstance(event, Finish):
                finish = event.reason
                continue
            if isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, ToolCallRequest):
                calls.append(event)
            yield event
        blocks = [] if calls else _block_calls(text, offered)
        for call in blocks:
            yield call
        if blocks and self.auto:
            self.note = AUTO_CHOSE_BLOCKS
        yield Finish("tool_calls" if blocks else finish)


def _block_calls(text: str, offered: set[str]) -> list[ToolCallRequest]:
    prefix = f"{BLOCK_ID}{uuid.uuid4().hex[:12]}-"
    calls = []
    for action in actions_of(text):
        if action.problem and code_tools.PYTHON in offered:
            calls.append(ToolCallRequest(f"{prefix}{len(calls) + 1}", "", {}, action.problem))
        elif action.name in offered:
            calls.append(
                ToolCallRequest(f"{prefix}{len(calls) + 1}", action.name, action.arguments)
            )
    return calls


def as_text(messages: list[ChatMessage], *, every_call: bool) -> list[ChatMessage]:
    """The transcript with code-block calls (or, with ``every_call``, all calls) as
    plain text: the reply as the model wrote it, the results as one user message."""
    out: list[ChatMessage] = []
    textual: set[str] = set()
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            mine = [c for c in message.tool_calls if every_call or c.id.startswith(BLOCK_ID)]
            if mine:
                textual.update(call.id for call in mine)
                message = _without_calls(message, mine)
        if message.role == "tool" and message.tool_call_id in textual:
            message = ChatMessage(role="user", content=_result_text(message))
        if out and message.role == "user" and out[-1].role == "user":
            joined = f"{out[-1].content}\n\n{message.content}"
            out[-1] = ChatMessage(role="user", content=joined)
            continue
        out.append(message)
    return out


def _without_calls(message: ChatMessage, calls: list[ToolCallRequest]) -> ChatMessage:
    kept = tuple(call for call in message.tool_calls if call not in calls)
    content = message.content
    if not content.strip():  # a native call turned to text: say what was asked
        content = "\n".join(f"(called {call.name} with {call.arguments})" for call in calls)
    return ChatMessage(role="assistant", content=content, tool_calls=kept)


def _result_text(message: ChatMessage) -> str:
    return f"Output of your code:\n{message.content}"
