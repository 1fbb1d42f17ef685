"""Any server speaking OpenAI's Chat Completions API: OpenAI itself, and vLLM, Ollama,
llama.cpp or LM Studio through their OpenAI-compatible endpoints. Those servers differ in
small ways (no usage, ids only on the first delta, "stop" after tool calls), so the
stream is read tolerantly.

Tools go with ``tool_choice: "auto"``: llama.cpp-style servers drop tools without it.
Some of those refuse it while streaming (an error, or HTTP 200 with an empty body); then
the same request is made unstreamed, and if the server refuses ``tool_choice`` there too,
it is left out. What worked is remembered per server and model for this process.
"""

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai

from agents.providers.base import (
    ChatMessage,
    EmptyReply,
    Finish,
    ProviderError,
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
    provider_error,
    refuse_private_base_url,
)
from connections.providers import NO_KEY_PLACEHOLDER

# How tools are asked for, in the order tried: streamed with tool_choice "auto", the same
# unstreamed, then streamed without tool_choice.
AUTO, UNSTREAMED, NO_CHOICE = "auto", "unstreamed", "no tool_choice"
_TOOL_MODES: dict[tuple[str, str], str] = {}
_TOOL_CHOICE_WORDS = re.compile(r"tool.?choice", re.IGNORECASE)


def empty_reply(where: str) -> EmptyReply:
    return EmptyReply(
        f"{where} answered with an empty stream: no text, no tool call and no finish "
        "reason. Servers do this when they refuse a request without saying why, often "
        "because the conversation is longer than the model's context window; the "
        "server's log tells more."
    )


class OpenAIChatProvider(SDKProvider):
    kind = "OpenAI-compatible"

    @property
    def tool_mode(self) -> str:
        return _TOOL_MODES.get((self.base_url, self.model), AUTO)

    async def stream(
        self, *, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> AsyncIterator[ProviderEvent]:
        refuse_private_base_url(self.base_url)
        while True:
            mode = self.tool_mode if tools else ""
            request = self._request(system, messages, tools)
            started = False
            try:
                async for event in self._attempt(request):
                    started = True
                    yield event
                return
            except Exception as error:
                if started or not mode or not self._fall_back(mode, error):
                    raise self._plain(error) from None

    def _fall_back(self, mode: str, error: Exception) -> bool:
        """Moves to the next way of asking for tools when the server refused this one."""
        refused_stream = mode == AUTO and isinstance(error, EmptyReply)
        # vLLM: '"auto" tool choice requires --enable-auto-tool-choice'; others name
        # tool_choice. Any other refusal is the request's own fault: not retried.
        refused_choice = isinstance(error, openai.APIStatusError) and bool(
            _TOOL_CHOICE_WORDS.search(str(error.message))
        )
        if not (refused_stream or refused_choice) or mode == NO_CHOICE:
            return False
        _TOOL_MODES[(self.base_url, self.model)] = UNSTREAMED if refused_stream else NO_CHOICE
        return True

    def _plain(self, error: Exception) -> Exception:
        if isinstance(error, ProviderError):
            return error
        return provider_error(
            error,
            base_url=self.base_url,
            model=self.model,
            api_key=self._api_key,
            timeout=self.timeout,
        )

    async def _attempt(self, request: dict[str, Any]) -> AsyncIterator[ProviderEvent]:
        async with self._client() as client:
            response = await client.chat.completions.create(**request)
            if not request["stream"]:
                for event in _completion_events(response, self.base_url):
                    yield event
                return
            async with response:
                async for event in _events(response, self.base_url):
                    yield event

    async def _start(self, client: openai.AsyncOpenAI, request: dict[str, Any]) -> Any:
        return await client.chat.completions.create(**request)

    def _read(self, response: Any) -> AsyncIterator[ProviderEvent]:
        return _events(response, self.base_url)

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
            mode = self.tool_mode
            if mode != NO_CHOICE:
                request["tool_choice"] = "auto"
            if mode == UNSTREAMED:
                request["stream"] = False
                del request["stream_options"]
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
            # Never null: llama.cpp's server refuses it (OpenAI takes either).
            "content": message.content or "",
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


def _completion_events(completion: Any, where: str) -> Iterator[ProviderEvent]:
    """An unstreamed answer as the same events."""
    choice = _first_choice(completion)
    message = getattr(choice, "message", None)
    if message is None:
        raise empty_reply(where)
    if message.content:
        yield TextDelta(message.content)
    calls: dict[int, PartialToolCall] = {}
    for part in message.tool_calls or ():
        _add_tool_call_part(calls, part)
    for index in sorted(calls):
        yield calls[index].request()
    if completion.usage:
        yield _usage(completion.usage)
    yield Finish(_finish_reason(choice.finish_reason or "", has_tool_calls=bool(calls)))


async def _events(chunks: AsyncIterator[Any], where: str) -> AsyncIterator[ProviderEvent]:
    calls: dict[int, PartialToolCall] = {}
    usage: Usage | None = None
    finish = ""
    text = False
    async for chunk in chunks:
        if chunk_usage := getattr(chunk, "usage", None):
            usage = _usage(chunk_usage)
        choice = _first_choice(chunk)
        if choice is None:
            continue
        delta = getattr(choice, "delta", None)
        if delta is not None and delta.content:
            text = True
            yield TextDelta(delta.content)
        for part in (delta.tool_calls if delta is not None else None) or ():
            _add_tool_call_part(calls, part)
        finish = getattr(choice, "finish_reason", None) or finish
    if not (text or calls or finish):
        raise empty_reply(where)
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
