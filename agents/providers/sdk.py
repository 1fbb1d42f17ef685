"""What the two SDK-backed providers share: the streaming call with its egress guard,
failures in plain words, and reading the arguments a model sent for a tool call."""

import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import json_repair
import openai

from agents.providers.base import (
    ChatMessage,
    ContextTooLong,
    ProviderError,
    ProviderEvent,
    ToolCallRequest,
    ToolSpec,
)
from connections import base_urls
from connections.masking import scrub
from connections.providers import _provider_message, describe_error

# One retry rides out a dropped connection or a brief 5xx/overload; more would keep the
# person waiting on a provider that is down (the SDK also honours retry-after).
MAX_RETRIES = 1
# An answer can be long; the turn's step limit, not this, bounds the total.
MAX_OUTPUT_TOKENS = 4096
_MAX_MESSAGE = 300

_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)
_TIMEOUT_ERRORS = (openai.APITimeoutError, anthropic.APITimeoutError, httpx2.TimeoutException)
_CONNECTION_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError)
_SDK_ERRORS = (openai.APIError, anthropic.APIError)
_JSON_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number"}
_JSON_KINDS |= {bool: "true or false", type(None): "null"}
# How OpenAI, vLLM, llama.cpp, Ollama and Anthropic word a prompt that does not fit.
_CONTEXT_WORDS = re.compile(
    r"context.{0,20}(length|window|size)|maximum context|exceeds? .{0,40}context"
    r"|too many tokens|prompt is too long|n_ctx",
    re.IGNORECASE,
)


def refuse_private_base_url(base_url: str) -> None:
    """check_provider's refusal, made at every call: the name may resolve elsewhere now
    than when the connection was saved. The transport checks again when connecting."""
    if problem := base_urls.private_address_problem(base_url):
        raise ProviderError(problem)


def guarded_http_client(sdk: Any) -> Any:
    """``http_client`` for an SDK's async client (``openai`` or ``anthropic`` module),
    or None for the SDK's own when private servers are allowed anyway."""
    transport = base_urls.async_transport_for_base_urls()
    return sdk.DefaultAsyncHttpxClient(transport=transport) if transport else None


def provider_error(
    error: Exception, *, base_url: str, model: str, api_key: str, timeout: float
) -> ProviderError:
    """The failure in plain words, scrubbed of the key. The traceback is not kept: SDK
    errors carry the provider's body, which may echo the key, into logs."""
    text = scrub(_describe(error, where=base_url, model=model, timeout=timeout), api_key)
    if isinstance(error, _STATUS_ERRORS) and _CONTEXT_WORDS.search(_provider_message(error)):
        return ContextTooLong(text)
    return ProviderError(text)


def _describe(error: Exception, *, where: str, model: str, timeout: float) -> str:
    # connections.providers describes a models listing; a chat call differs in these.
    if isinstance(error, _TIMEOUT_ERRORS):
        return f"No answer from {where} within {timeout:g} seconds."
    if isinstance(error, httpx2.TransportError) or _reached(error):
        # Anthropic's stream lets network failures after the first byte through unwrapped;
        # OpenAI's wraps them, but the server was reached all the same.
        name = type(_root(error)).__name__
        return f"The connection to {where} broke during the answer ({name})."
    if isinstance(error, _STATUS_ERRORS):
        detail = _provider_message(error)
        if error.status_code == 404:
            return _clip(
                f"The provider has no model {model!r}, or {where} is not this provider's API "
                f"(404): {detail}"
            )
        if error.status_code == 403:
            return _clip(f"The provider refused the request (403): {detail}")
        if error.status_code < 400:  # an error event inside a stream that began well
            return _clip(f"The provider stopped with an error during the answer: {detail}")
    elif isinstance(error, _SDK_ERRORS) and not isinstance(error, _CONNECTION_ERRORS):
        # OpenAI reports an error chunk inside a stream as a bare APIError.
        return _clip(f"The provider stopped with an error during the answer: {error.message}")
    return describe_error(error, where=where)


def _reached(error: Exception) -> bool:
    """A connection error after the server answered (a dropped stream), not one on the
    way to it: only the latter is "Could not reach"."""
    if not isinstance(error, _CONNECTION_ERRORS) or isinstance(error, _TIMEOUT_ERRORS):
        return False
    root = _root(error)
    unreached = (httpx2.ConnectError, httpx2.ConnectTimeout, OSError)
    return isinstance(root, httpx2.TransportError) and not isinstance(root, unreached)


def _root(error: BaseException) -> BaseException:
    seen = {id(error)}
    while (nxt := error.__cause__ or error.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        if isinstance(nxt, httpx2.TransportError):
            return nxt
        error = nxt
    return error


def _clip(text: str) -> str:
    return text[:_MAX_MESSAGE]


def tool_arguments(raw: str) -> tuple[dict[str, Any], str, str]:
    """The arguments object a model sent as JSON text: ``(arguments, problem, repaired)``.
    Small local models write raw newlines inside strings or stop before the closing
    brace; such text is repaired (json-repair) and ``repaired`` is the JSON it was read
    as, shown with the call. A model that sends something unreadable is told so and can
    try again: the turn does not fail."""
    if not raw.strip():
        return {}, "", ""  # Some servers send nothing for a call without arguments.
    repaired = ""
    try:
        arguments = json.loads(raw)
    except ValueError as error:
        repaired = json_repair.repair_json(raw, skip_json_loads=True)
        try:
            arguments = json.loads(repaired) if repaired else None
        except ValueError:
            arguments = None
        if arguments is None or repaired in ('""', "null"):
            return {}, f"The arguments were not valid JSON ({error}).", ""
    if not isinstance(arguments, dict):
        kind = _JSON_KINDS.get(type(arguments), "value")
        return {}, f"The arguments must be a JSON object, but the model sent {kind}.", ""
    return arguments, "", repaired


@dataclass
class PartialToolCall:
    """A tool call as its pieces stream in."""

    id: str = ""
    name: str = ""
    arguments: str = ""

    def request(self) -> ToolCallRequest:
        arguments, problem, repaired = tool_arguments(self.arguments)
        # Some OpenAI-compatible servers send no id; the answer must still refer to one.
        call_id = self.id or f"call_{uuid.uuid4().hex[:24]}"
        return ToolCallRequest(
            call_id, self.name, arguments, arguments_error=problem, arguments_repaired=repaired
        )


class SDKProvider(ABC):
    """One streamed request per call through a guarded client, failures in plain words.
    Subclasses make the client and the request, start the stream and read it."""

    kind = ""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout: float = 60.0):
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self._api_key = api_key
        self.label = f"{self.kind} model {model} at {base_url}"

    async def stream(
        self, *, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> AsyncIterator[ProviderEvent]:
        refuse_private_base_url(self.base_url)
        try:
            async with self._client() as client:
                response = await self._start(client, self._request(system, messages, tools))
                async with response:
                    async for event in self._read(response):
                        yield event
        except ProviderError:
            raise
        except Exception as error:
            raise provider_error(
                error,
                base_url=self.base_url,
                model=self.model,
                api_key=self._api_key,
                timeout=self.timeout,
            ) from None

    @abstractmethod
    def _client(self) -> Any: ...

    @abstractmethod
    def _request(
        self, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> dict[str, Any]: ...

    @abstractmethod
    async def _start(self, client: Any, request: dict[str, Any]) -> Any: ...

    @abstractmethod
    def _read(self, response: Any) -> AsyncIterator[ProviderEvent]: ...
