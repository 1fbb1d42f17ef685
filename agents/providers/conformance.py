"""What the OpenAI-compatible server behind a connection really does, asked with small
real requests: models listed, streaming, usage, tool calls with and without
``tool_choice``, null content, the context size it advertises, and so which way Turnbox
will run code with it (``manage.py provider_check``, and the agent page's Check model).
Every answer is kept in plain words; nothing here raises for a server's failure."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai

from agents.providers.model_names import model_match
from agents.providers.sdk import provider_error
from connections import base_urls
from connections.masking import scrub
from connections.providers import NO_KEY_PLACEHOLDER, describe_error

_TIMEOUT = 120.0  # a small model on 2 cores takes seconds per answer
_MAX_TOKENS = 48
_ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Adds two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}
_ASK_ADD = [{"role": "user", "content": "Use the add tool to add 2 and 3."}]
_CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "n_ctx", "n_ctx_train")
# Not asked: Anthropic's Messages API has one way of calling tools.
ANTHROPIC_MODE_DETAIL = "native tool calls: Anthropic's API always calls tools natively"


@dataclass(frozen=True)
class Row:
    check: str
    ok: bool | None  # None: not known (not advertised, not applicable)
    detail: str


def conformance(*, base_url: str, api_key: str, model: str) -> list[Row]:
    """One row per behaviour, the last the mode Turnbox will use."""
    if problem := base_urls.private_address_problem(base_url):
        return [Row("server", False, problem)]
    # One retry, as turns have: a server that failed a request may drop the next one's
    # kept-alive connection (llama.cpp's after a refused streamed tool_choice).
    options: dict[str, Any] = {"timeout": _TIMEOUT, "max_retries": 1, "base_url": base_url}
    if transport := base_urls.transport_for_base_urls():
        options["http_client"] = openai.DefaultHttpxClient(transport=transport)
    with openai.OpenAI(api_key=api_key or NO_KEY_PLACEHOLDER, **options) as client:
        probe = _Probe(client, base_url, api_key, model)
        rows, model = _models_rows(probe, model)
        ask = {"model": model, "max_tokens": _MAX_TOKENS}
        chat = [{"role": "user", "content": "Say OK."}]
        streamed = probe.stream(ask | {"messages": chat, "stream_options": _USAGE})
        rows.append(Row("streaming", streamed.ok, streamed.detail))
        rows.append(_usage_row(streamed))
        tool_rows = {
            "tool calls, tool_choice auto, streamed": probe.stream(_tools(ask, "auto")),
            "tool calls, tool_choice auto, unstreamed": probe.once(_tools(ask, "auto")),
            "tool calls, no tool_choice, streamed": probe.stream(_tools(ask, None)),
            "tool calls, tool_choice forcing add": probe.stream(_tools(ask, _FORCE)),
        }
        rows += [Row(name, r.ok and r.calls > 0, r.detail) for name, r in tool_rows.items()]
        null = probe.once(ask | {"messages": _null_content_messages()})
        rows.append(Row("assistant content null accepted", null.ok, null.detail))
        rows.append(_mode_row(tool_rows))
    return rows


_USAGE = {"include_usage": True}
_FORCE = {"type": "function", "function": {"name": "add"}}


@dataclass(frozen=True)
class _Answer:
    ok: bool
    detail: str
    calls: int = 0
    usage: bool = False


class _Probe:
    def __init__(self, client: openai.OpenAI, where: str, api_key: str, model: str):
        self.client, self.where, self.api_key, self.model = client, where, api_key, model

    def stream(self, request: dict) -> _Answer:
        return self._asked(lambda: self._streamed(request))

    def once(self, request: dict) -> _Answer:
        return self._asked(lambda: self._unstreamed(request))

    def _asked(self, ask: Callable[[], _Answer]) -> _Answer:
        try:
            return ask()
        except Exception as error:
            said = provider_error(
                error, base_url=self.where, model=self.model, api_key=self.api_key, timeout=_TIMEOUT
            )
            return _Answer(False, str(said))

    def _streamed(self, request: dict) -> _Answer:
        text, calls, finish, usage = "", set(), "", False
        for chunk in self.client.chat.completions.create(stream=True, **request):
            usage = usage or bool(getattr(chunk, "usage", None))
            for choice in chunk.choices or ():
                text += choice.delta.content or ""
                calls |= {c.index for c in choice.delta.tool_calls or ()}
                finish = choice.finish_reason or finish
        if not (text or calls or finish):
            return _Answer(False, "HTTP 200 with an empty stream: no text, no finish reason")
        return _Answer(True, _said(text, len(calls), finish), len(calls), usage)

    def _unstreamed(self, request: dict) -> _Answer:
        answer = self.client.chat.completions.create(**request)
        if not answer.choices:
            return _Answer(False, "an answer without choices")
        choice = answer.choices[0]
        calls = len(choice.message.tool_calls or ())
        said = _said(choice.message.content or "", calls, choice.finish_reason or "")
        return _Answer(True, said, calls, bool(answer.usage))

    def models(self) -> tuple[list[str], list[dict]]:
        listed = self.client.models.list().data
        return [m.id for m in listed], [m.model_dump() for m in listed]


def _models_rows(probe: _Probe, model: str) -> tuple[list[Row], str]:
    try:
        ids, raw = probe.models()
    except Exception as error:
        message = scrub(describe_error(error, where=probe.where), probe.api_key)
        return [Row("models listed", False, message)], model
    rows, found = listing_rows(model, ids)
    context = _context_size(raw, found)
    rows.append(Row("context size", None, f"{context} tokens" if context else "not advertised"))
    return rows, found or model


def listing_rows(model: str, ids: list[str] | tuple[str, ...]) -> tuple[list[Row], str]:
    """The "models listed" and "model found" rows of a listing (an Anthropic connection's
    too), and the id the model is served under ("" when it is not listed)."""
    found, how = model_match(model, ids)
    named = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
    rows = [Row("models listed", bool(ids), named or "none")]
    detail = f"“{model}” {how or 'listed as is'}" if found else f"“{model}” is not listed"
    rows.append(Row("model found", bool(found), detail))
    return rows, found


def _context_size(raw: list[dict], model: str) -> int | None:
    for entry in raw:
        if entry.get("id") != model:
            continue
        for where in (entry, entry.get("meta") or {}):
            for key in _CONTEXT_KEYS:
                if isinstance(where.get(key), int):
                    return where[key]
    return None


def _tools(ask: dict, choice: Any) -> dict:
    request = ask | {"messages": _ASK_ADD, "tools": [_ADD]}
    return request | ({"tool_choice": choice} if choice is not None else {})


def _null_content_messages() -> list[dict]:
    call = {"id": "call_1", "type": "function"}
    call["function"] = {"name": "add", "arguments": json.dumps({"a": 2, "b": 3})}
    return [
        *_ASK_ADD,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
    ]


def _said(text: str, calls: int, finish: str) -> str:
    parts = [f"{calls} tool call{'s' if calls != 1 else ''}"] if calls else []
    if text.strip():
        parts.append(f"text {text.strip()[:40]!r}")
    parts.append(f"finish reason {finish or 'none'}")
    return ", ".join(parts)


def _usage_row(streamed: _Answer) -> Row:
    if not streamed.ok:
        return Row("usage reported", None, "streaming failed")
    return Row("usage reported", streamed.usage, "with the stream" if streamed.usage else "none")


def _mode_row(tool_rows: dict[str, _Answer]) -> Row:
    streamed, unstreamed, no_choice, _ = tool_rows.values()
    if streamed.ok and streamed.calls:
        mode = "native tool calls (tool_choice auto, streamed)"
    elif unstreamed.ok and unstreamed.calls:
        mode = "native tool calls (tool_choice auto, unstreamed)"
    elif no_choice.ok and no_choice.calls:
        mode = "native tool calls (without tool_choice)"
    else:
        return Row(
            "mode",
            None,
            "code blocks: the model made no tool call; automatic mode "
            "runs the code blocks it writes",
        )
    return Row("mode", True, mode)


def uses_native_tool_calls(rows: list[Row]) -> bool | None:
    """What the "mode" row says: True for native tool calls, False for code blocks, None
    when the checks did not get that far."""
    mode = next((row for row in rows if row.check == "mode"), None)
    return None if mode is None else mode.detail.startswith("native tool calls")


def table(rows: list[Row]) -> str:
    marks = {True: "yes", False: "no", None: "-"}
    width = max(len(row.check) for row in rows)
    return "\n".join(f"{row.check:<{width}}  {marks[row.ok]:<3}  {row.detail}" for row in rows)
