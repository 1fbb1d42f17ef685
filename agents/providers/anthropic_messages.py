"""Anthropic's Messages API, streamed: text deltas as they come, each tool_use block as
a tool call once its JSON input is complete."""

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from agents.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    TextDelta,
    ToolSpec,
    Usage,
)
from agents.providers.sdk import (
    MAX_OUTPUT_TOKENS,
    MAX_RETRIES,
    PartialToolCall,
    SDKProvider,
    guarded_http_client,
)

# Anthropic's stop reasons in the interface's words; others ("refusal", …) pass through.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


class AnthropicProvider(SDKProvider):
    kind = "Anthropic"

    async def _start(self, client: anthropic.AsyncAnthropic, request: dict[str, Any]) -> Any:
        return await client.messages.create(**request)

    def _read(self, response: Any) -> AsyncIterator[ProviderEvent]:
        return _events(response)

    def _client(self) -> anthropic.AsyncAnthropic:
        # The key is always passed, even empty: with none the SDK looks for credentials in
        # the server's environment and profile files, and would send the operator's.
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=MAX_RETRIES,
            http_client=guarded_http_client(anthropic),
        )

    def _request(
        self, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": MAX_OUTPUT_TOKENS,
            "messages": anthropic_messages(messages),
            "stream": True,
        }
        if system:
            request["system"] = system
        if tools:
            request["tools"] = [anthropic_tool(tool) for tool in tools]
        return request


def anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Tool results go back as tool_result blocks of a user message: one message for the
    results of one step, as the API wants them together after the assistant's calls."""
    converted: list[dict[str, Any]] = []
    after_tool_result = False
    for message in messages:
        if message.role == "tool":
            if after_tool_result:
                converted[-1]["content"].append(_tool_result(message))
            else:
                converted.append({"role": "user", "content": [_tool_result(message)]})
        elif message.role == "assistant":
            # The API refuses empty content; an empty reply says nothing to repeat.
            if blocks := _assistant_blocks(message):
                converted.append({"role": "assistant", "content": blocks})
        else:
            converted.append({"role": "user", "content": message.content})
        after_tool_result = message.role == "tool"
    return converted


def _tool_result(message: ChatMessage) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.content:  # The API refuses an empty text; no content is allowed.
        block["content"] = message.content
    return block


def _assistant_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        tool_use = {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        blocks.append(tool_use)
    return blocks


def anthropic_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


async def _events(events: AsyncIterator[Any]) -> AsyncIterator[ProviderEvent]:
    calls: dict[int, PartialToolCall] = {}
    input_tokens = 0
    stop_reason = ""
    async for event in events:
        kind = getattr(event, "type", "")
        if kind == "message_start":
            input_tokens = _input_tokens(getattr(event.message, "usage", None))
        elif kind == "content_block_start":
            _start_block(calls, event)
        elif kind == "content_block_delta":
            if text := _add_delta(calls, event):
                yield TextDelta(text)
        elif kind == "content_block_stop" and event.index in calls:
            yield calls.pop(event.index).request()
        elif kind == "message_delta":
            stop_reason = getattr(event.delta, "stop_reason", None) or stop_reason
            # Newer servers repeat the input count here, counting any cache use.
            input_tokens = _input_tokens(event.usage) or input_tokens
            yield Usage(input_tokens, getattr(event.usage, "output_tokens", None) or 0)
    yield Finish(_FINISH_REASONS.get(stop_reason, stop_reason or "stop"))


def _start_block(calls: dict[int, PartialToolCall], event: Any) -> None:
    block = event.content_block
    if getattr(block, "type", "") == "tool_use":
        calls[event.index] = PartialToolCall(id=block.id, name=block.name)


def _add_delta(calls: dict[int, PartialToolCall], event: Any) -> str:
    """Adds a tool call's input piece; returns the text of a text delta, else ""."""
    delta = event.delta
    kind = getattr(delta, "type", "")
    if kind == "text_delta":
        return delta.text or ""
    if kind == "input_json_delta" and (call := calls.get(event.index)):
        call.arguments += delta.partial_json or ""
    return ""


def _input_tokens(usage: Any) -> int:
    # Tokens read from or written to the prompt cache are input too.
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(getattr(usage, name, None) or 0 for name in fields)
