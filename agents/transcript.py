"""What the model is given: its instructions and the conversation so far."""

from agents.models import Agent, Message, Turn
from agents.providers.base import ChatMessage, ToolCallRequest

HISTORY_TURNS = 20

_CODE_NOTE = """\
You can run code with your tools. Each user message starts a new turn with a fresh,
empty sandbox: variables, imports and files from earlier turns are gone, so recreate
what you need (files the user keeps are in Drive: upload them with \
_code_upload_to_session). Within this turn, state persists between tool calls. Save
results the user should keep to Drive with _code_download_from_session."""


def system_prompt(agent: Agent, *, code_tools: bool, skills: str = "") -> str:
    """``skills``: the attached skills by name and description (agents.tools.skills.skills_note)."""
    parts = [agent.instructions.strip() or f"You are {agent.name}, a helpful assistant."]
    if code_tools:
        parts.append(_CODE_NOTE)
    if skills:
        parts.append(skills)
    return "\n\n".join(parts)


def transcript_for(turn: Turn) -> list[ChatMessage]:
    """Earlier turns (most recent ones), then this turn's user message."""
    earlier = (
        Turn.objects.filter(conversation_id=turn.conversation_id, index__lt=turn.index)
        .order_by("-index")
        .prefetch_related("messages")[:HISTORY_TURNS]
    )
    messages: list[ChatMessage] = []
    for past in reversed(list(earlier)):
        messages.append(ChatMessage(role="user", content=past.user_message))
        messages.extend(_complete_exchanges(list(past.messages.all())))
    messages.append(ChatMessage(role="user", content=turn.user_message))
    return messages


def _complete_exchanges(rows: list[Message]) -> list[ChatMessage]:
    """A turn's messages, keeping tool calls only where every call got its result: a
    stopped turn can leave calls unanswered, which providers refuse."""
    answered = {row.tool_call_id for row in rows if row.role == Message.Role.TOOL}
    out: list[ChatMessage] = []
    kept: set[str] = set()
    for row in rows:
        if row.role == Message.Role.ASSISTANT:
            calls = [c for c in row.tool_calls if c.get("id") in answered]
            if len(calls) != len(row.tool_calls):
                calls = []
            kept.update(c["id"] for c in calls)
            requests = tuple(
                ToolCallRequest(id=c["id"], name=c["name"], arguments=c.get("arguments") or {})
                for c in calls
            )
            if row.content or requests:
                out.append(ChatMessage(role="assistant", content=row.content, tool_calls=requests))
        elif row.tool_call_id in kept:
            out.append(ChatMessage(role="tool", content=row.content, tool_call_id=row.tool_call_id))
    return out
