"""The one small interface every LLM provider implements.

A provider turns a transcript and a list of tools into a stream of events: text as it
is generated, complete tool calls, token usage, and a finish reason. The turn loop
(agents.turns) knows nothing else about providers.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

# What a model is offered and what it asks for are the tools' types: providers only
# translate them to and from their wire formats.
from agents.tools.types import ToolCallRequest, ToolSpec

__all__ = [
    "ChatMessage",
    "CollectedReply",
    "ContextTooLong",
    "EmptyReply",
    "Finish",
    "LLMProvider",
    "ProviderError",
    "ProviderEvent",
    "TextDelta",
    "ToolCallRequest",
    "ToolSpec",
    "Usage",
]


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCallRequest, ...] = ()
    # Tool results: which call this answers, and that tool's name.
    tool_call_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Finish:
    # "stop" (an answer), "tool_calls", "length" (cut by the token limit), or the
    # provider's own word.
    reason: str


ProviderEvent = TextDelta | ToolCallRequest | Usage | Finish


class ProviderError(Exception):
    """A failure in plain words, already scrubbed of secrets: shown to the user."""


class ContextTooLong(ProviderError):
    """The server said the conversation does not fit the model's context window: the
    turn loop drops older turns and asks again."""


class EmptyReply(ProviderError):
    """The server answered 200 and streamed nothing: no text, no tool call, no finish
    reason. Local servers do this when they refuse a prompt longer than the context."""


class LLMProvider(Protocol):
    # Shown in replies and on the agent page ("OpenAI-compatible at …", "Direct mode").
    label: str

    def stream(
        self,
        *,
        system: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec],
    ) -> AsyncIterator[ProviderEvent]:
        """Yields events for one model call. Raises ProviderError for failures."""
        ...


@dataclass
class CollectedReply:
    """What one model call produced, gathered from its events."""

    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish: str = ""
