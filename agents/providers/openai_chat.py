"""Any server speaking OpenAI's Chat Completions API: OpenAI itself, and vLLM, Ollama,
llama.cpp or LM Studio through their OpenAI-compatible endpoints. Those servers differ in
small ways (no usage, ids only on the first delta, "stop" after tool calls), so the
stream is read tolerantly."""

import json
from collections.abc import AsyncIterator
from typing import Any

import openai

from agents.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
    Usage,
)
from agents.providers.sdk import (
    MAX_RETRIES,
    PartialToolCall,
    SDKProvider,
    guarded_http_client,
)
from connections.providers import NO_KEY_PLACEHOLDER


class OpenAIChatProvider(SDKProvider):
    kind = "OpenAI-compatible"

    async def _start(self, client: openai.AsyncOpenAI, request: dict[str, Any]) -> Any:
        return await client.chat.completions.create(**request)

    def _read(self, response: Any) -> AsyncIterator[ProviderEvent]:
        return _events(response)

    def _client(self) -> openai.AsyncOpenAI:
        # Everything explicit: left out, the SDK reads OPENAI_API_KEY / OPENAI_BASE_URL
        # from the server's environment (see NO_KEY_PLACEHOLDER).
        return openai.AsyncOpenAI(
            api_key=self._api_key or NO_KEY_PLACEHOLDER,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=MAX_RETRIES,
            http_client=guarded_http_client(openai),
        )

    def _request(
        self, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(system, messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:  # Some servers reject an empty list.
            request["tools"] = [openai_tool(tool) for tool in tools]
        return request


def openai_messages(system: str, messages: list[ChatMessage]) -> list[dict[str, Any]]:
    converted = [{"role": "system", "content": system}] if system else []
    return converted + [_message(message) for message in messages]


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [_tool_call(call) for call in message.tool_calls],
        }
    return {"role": message.role, "content": message.content}


def _tool_call(call: ToolCallRequest) -> dict[str, Any]:
    arguments = json.dumps(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def openai_tool(tool: ToolSpec) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


async def _events(chunks: AsyncIterator[Any]) -> AsyncIterator[ProviderEvent]:
    calls: dict[int, PartialToolCall] = {}
    usage: Usage | None = None
    finish = ""
    async for chunk in chunks:
        if chunk_usage := getattr(chunk, "usage", None):
            usage = _usage(chunk_usage)
        choice = _first_choice(chunk)
        if choice is None:
            continue
        delta = getattr(choice, "delta", None)
        if delta is not None and delta.content:
            yield TextDelta(delta.content)
        for part in (delta.tool_calls if delta is not None else None) or ():
            _add_tool_call_part(calls, part)
        finish = getattr(choice, "finish_reason", None) or finish
    for index in sorted(calls):
        yield calls[index].request()
    # Some servers ignore stream_options; a reply without usage counts as none.
    if usage is not None:
        yield usage
    yield Finish(_finish_reason(finish, has_tool_calls=bool(calls)))


def _usage(usage: Any) -> Usage:
    prompt = getattr(usage, "prompt_tokens", None) or 0
    return Usage(prompt, getattr(usage, "completion_tokens", None) or 0)


def _first_choice(chunk: Any) -> Any:
    choices = getattr(chunk, "choices", None) or ()
    return choices[0] if choices else None


def _add_tool_call_part(calls: dict[int, PartialToolCall], part: Any) -> None:
    index = getattr(part, "index", None)
    if index is None:  # Servers that send each call whole in one delta may omit it.
        index = len(calls)
    call = calls.setdefault(index, PartialToolCall())
    call.id = call.id or getattr(part, "id", None) or ""
    function = getattr(part, "function", None)
    if function is None:
        return
    # The name comes once from OpenAI, but some servers repeat it on every delta.
    if function.name and function.name != call.name:
        call.name += function.name
    pieces = function.arguments
    if isinstance(pieces, str):
        call.arguments += pieces
    elif pieces:  # A few servers send the arguments as an object, not JSON text.
        call.arguments += json.dumps(pieces)


def _finish_reason(finish: str, *, has_tool_calls: bool) -> str:
    # Ollama and others say "stop" after tool calls; the calls are what matters.
    if has_tool_calls and finish in ("", "stop"):
        return "tool_calls"
    return finish or "stop"
