"""A scripted LLM: a real HTTP server on 127.0.0.1 that streams, as the real APIs do,
OpenAI Chat Completions (``POST /v1/chat/completions``, ``data:`` chunks ending with
``data: [DONE]``) and Anthropic Messages (``POST /v1/messages``, ``event:`` + ``data:``).

Each POST takes the next scripted ``Reply`` and records the JSON body it answered, so a
test says what the model answers and then checks what the model was sent::

    with ScriptedLLM([
        Reply.tool("_code_execute_python", {"code": "print(1)"}),
        Reply.text("Done: ", "1"),
    ]) as llm:
        provider = OpenAIChatProvider(base_url=llm.openai_url, api_key="sk-x", model="m")
        ...  # two model calls
        assert llm.requests[1]["messages"][-1]["role"] == "tool"

``url`` is the server's root (Anthropic's SDK); OpenAI clients take ``openai_url``. A
POST with no reply left is answered 500; GET lists ``models``.

Tool call arguments are always streamed in small pieces, so every tool call exercises
the providers' reassembly.
"""

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# (input tokens, output tokens) reported unless a reply says otherwise.
DEFAULT_USAGE = (21, 8)
ARGUMENT_PIECE = 7
# A hanging reply gives up after this, so a broken test cannot leave a thread behind.
HANG_LIMIT_SECONDS = 30.0

_ANTHROPIC_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error"}
_ANTHROPIC_ERROR_TYPES |= {403: "permission_error", 404: "not_found_error"}
_ANTHROPIC_ERROR_TYPES |= {429: "rate_limit_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class ToolCall:
    name: str
    # A string is sent as is: broken JSON, or JSON that is not an object.
    arguments: dict[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        arguments = self.arguments
        return arguments if isinstance(arguments, str) else json.dumps(arguments)


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with the class methods."""

    deltas: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    usage: tuple[int, int] | None = DEFAULT_USAGE
    # In the interface's words ("stop", "tool_calls", "length"), translated per API;
    # empty: "tool_calls" when there are calls, else "stop".
    finish: str = ""
    # Seconds between streamed chunks.
    delay: float = 0.0
    # False: OpenAI tool call deltas carry no id, as with some local servers.
    tool_ids: bool = True
    # An HTTP error instead of a stream; "{key}" in the message becomes the key received.
    http_status: int = 200
    error_message: str = ""
    # Streams the deltas, then an error event instead of the rest.
    fails_midway: bool = False
    # Streams the deltas, then sends nothing more until the server stops.
    hangs: bool = False
    # HTTP 200 and an empty body, as llama.cpp's server answers what it refuses.
    empty: bool = False

    @classmethod
    def text(cls, *deltas: str, **options: Any) -> "Reply":
        """An answer streamed as these text deltas, in order."""
        return cls(deltas=deltas, **options)

    @classmethod
    def tool(cls, name: str, arguments: dict[str, Any] | str, **options: Any) -> "Reply":
        """One tool call; ``text="…"`` streams some text before it."""
        return cls.tools(ToolCall(name, arguments), **options)

    @classmethod
    def tools(cls, *calls: ToolCall, text: str = "", **options: Any) -> "Reply":
        """Several tool calls in one answer (parallel tool calls)."""
        return cls(deltas=(text,) if text else (), tool_calls=calls, **options)

    @classmethod
    def http_error(cls, status: int, message: str = "Something went wrong.") -> "Reply":
        """An error status with the provider's JSON error body."""
        return cls(http_status=status, error_message=message)

    @classmethod
    def stream_error(cls, message: str, *deltas: str) -> "Reply":
        """Starts answering, then reports an error inside the stream."""
        return cls(deltas=deltas, error_message=message, fails_midway=True)

    @classmethod
    def hang(cls, *deltas: str) -> "Reply":
        """Streams these deltas, then goes quiet (for cancellation and timeout tests)."""
        return cls(deltas=deltas, hangs=True)

    def finish_reason(self) -> str:
        return self.finish or ("tool_calls" if self.tool_calls else "stop")


class ScriptedLLM:
    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self.replies = list(replies)
        # The JSON body and the headers (names in lower case) of every POST, in order.
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        # Set once a hanging reply has sent what it sends: the client is now waiting.
        self.hanging = threading.Event()
        # Set when the client closes the connection while a reply hangs.
        self.hung_up = threading.Event()
        self.models = ["/models/Scripted-Model.Q4_1.gguf"]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def __enter__(self) -> "ScriptedLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # releases hanging replies
        self._server.shutdown()
        self._server.server_close()

    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[Reply | None, int]:
        """Records the request; returns the next reply (None when none is left) and this
        call's number, which makes tool call ids unique across the conversation."""
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self._calls += 1
            return (self.replies.pop(0) if self.replies else None), self._calls

    def _wait_while_hanging(self, connection: socket.socket) -> None:
        """Sends nothing more until the server stops or the client hangs up."""
        self.hanging.set()
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        while not self._stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([connection], [], [], 0.05)
            # Readable with nothing to read: the client closed the connection.
            if readable and not _peek(connection):
                self.hung_up.set()
                return


@pytest.fixture
def scripted_llm() -> Iterator[Callable[..., ScriptedLLM]]:
    """Starts scripted LLM servers and stops them after the test: ``scripted_llm([…])``.
    A conftest imports it, or a test module binds it: ``scripted_llm = llm_server.scripted_llm``
    (a plain import would read to linters as an unused name shadowed by the argument)."""
    with contextlib.ExitStack() as stack:
        yield lambda replies=(): stack.enter_context(ScriptedLLM(replies))


def _handler_class(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the models listing, as llama.cpp's server lists a file
            data = [{"id": m, "object": "model", "owned_by": "me"} for m in llm.models]
            self._json(200, {"object": "list", "data": data})

        def do_POST(self) -> None:
            anthropic = self.path == "/v1/messages"
            if not anthropic and self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"No route {self.path}."}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply, call = llm._take(body, headers)
            if reply is None:
                reply = Reply.http_error(500, "ScriptedLLM has no scripted reply left.")
            elif not body.get("stream") and anthropic:
                reply = Reply.http_error(400, "ScriptedLLM only answers streaming requests.")
            # The client may go away mid-answer (cancelled): nothing is left to do then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(reply, body, call, anthropic)

        def _answer(self, reply: Reply, body: dict, call: int, anthropic: bool) -> None:
            if reply.http_status != 200:
                message = reply.error_message.replace("{key}", self._key())
                self._json(reply.http_status, _error_body(anthropic, reply.http_status, message))
                return
            if not body.get("stream"):
                from tests.agents.llm_unstreamed import openai_completion  # it imports this

                self._json(200, openai_completion(reply, body.get("model", ""), call))
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if anthropic:
                self._stream(reply, anthropic_events(reply, body.get("model", ""), call))
            else:
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._stream(reply, openai_events(reply, body.get("model", ""), call, usage))

        def _stream(self, reply: Reply, events: Iterator[tuple[str, dict | str]]) -> None:
            for event, data in events:
                if event == "hang":
                    llm._wait_while_hanging(self.connection)
                    return
                text = data if isinstance(data, str) else json.dumps(data)
                prefix = f"event: {event}\n" if event else ""
                self.wfile.write(f"{prefix}data: {text}\n\n".encode())
                self.wfile.flush()
                if reply.delay:
                    time.sleep(reply.delay)

        def _key(self) -> str:
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            return self.headers.get("x-api-key") or bearer

        def _json(self, status: int, document: dict) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _peek(connection: socket.socket) -> bytes:
    try:
        return connection.recv(1, socket.MSG_PEEK)
    except ConnectionResetError:
        return b""


def _error_body(anthropic: bool, status: int, message: str) -> dict[str, Any]:
    if anthropic:
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    code = "invalid_api_key" if status == 401 else None
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _pieces(text: str) -> list[str]:
    return [text[i : i + ARGUMENT_PIECE] for i in range(0, len(text), ARGUMENT_PIECE)]


def _tool_id(call: int, index: int) -> str:
    return f"call_{call}_{index}"


# --- OpenAI Chat Completions -----------------------------------------------------------
# Events are (SSE event name, data); "" is no event line, "hang" means go quiet.


def openai_events(
    reply: Reply, model: str, call: int, include_usage: bool
) -> Iterator[tuple[str, dict | str]]:
    def chunk(delta: dict, finish: str | None = None) -> tuple[str, dict]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return "", {**_openai_head(model, call), "choices": [choice]}

    if reply.empty:
        return
    yield chunk({"role": "assistant", "content": ""})
    for text in reply.deltas:
        yield chunk({"content": text})
    if reply.hangs:
        yield "hang", ""
    if reply.fails_midway:
        yield "", {"error": {"message": reply.error_message, "type": "server_error"}}
        return
    for index, tool_call in enumerate(reply.tool_calls):
        for part in _openai_tool_call_parts(reply, tool_call, _tool_id(call, index), index):
            yield chunk({"tool_calls": [part]})
    yield chunk({}, reply.finish_reason())
    if include_usage and reply.usage:
        prompt, completion = reply.usage
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        yield "", {**_openai_head(model, call), "choices": [], "usage": usage}
    yield "", "[DONE]"


def _openai_head(model: str, call: int) -> dict[str, Any]:
    head = {"id": f"chatcmpl-scripted-{call}", "object": "chat.completion.chunk"}
    return head | {"created": 0, "model": model}


def _openai_tool_call_parts(
    reply: Reply, tool_call: ToolCall, call_id: str, index: int
) -> Iterator[dict[str, Any]]:
    # As OpenAI does: id, type and name in the first delta only, then argument pieces.
    first = {"index": index, "type": "function"}
    first["function"] = {"name": tool_call.name, "arguments": ""}
    if reply.tool_ids:
        first["id"] = call_id
    yield first
    for piece in _pieces(tool_call.arguments_json):
        yield {"index": index, "function": {"arguments": piece}}


# --- Anthropic Messages ----------------------------------------------------------------


def anthropic_events(reply: Reply, model: str, call: int) -> Iterator[tuple[str, dict | str]]:
    input_tokens, output_tokens = reply.usage or (0, 0)
    yield "message_start", _anthropic_message_start(model, call, input_tokens)
    yield "ping", {"type": "ping"}
    index = 0
    if reply.deltas:
        yield from _anthropic_text_block(reply, index)
        index += 1
    if reply.hangs:
        yield "hang", ""
    if reply.fails_midway:
        error = {"type": "overloaded_error", "message": reply.error_message}
        yield "error", {"type": "error", "error": error}
        return
    for offset, tool_call in enumerate(reply.tool_calls):
        yield from _anthropic_tool_block(tool_call, _tool_id(call, offset), index + offset)
    stop = reply.finish_reason()
    delta = {"stop_reason": _ANTHROPIC_STOP.get(stop, stop), "stop_sequence": None}
    usage = {"output_tokens": output_tokens}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
    yield "message_stop", {"type": "message_stop"}


def _anthropic_message_start(model: str, call: int, input_tokens: int) -> dict[str, Any]:
    message = {"id": f"msg_scripted_{call}", "type": "message", "role": "assistant"}
    message |= {"model": model, "content": [], "stop_reason": None, "stop_sequence": None}
    message["usage"] = {"input_tokens": input_tokens, "output_tokens": 1}
    return {"type": "message_start", "message": message}


def _anthropic_text_block(reply: Reply, index: int) -> Iterator[tuple[str, dict]]:
    yield _block("content_block_start", index, content_block={"type": "text", "text": ""})
    for text in reply.deltas:
        yield _block("content_block_delta", index, delta={"type": "text_delta", "text": text})
    if not reply.hangs and not reply.fails_midway:
        yield _block("content_block_stop", index)


def _anthropic_tool_block(
    tool_call: ToolCall, call_id: str, index: int
) -> Iterator[tuple[str, dict]]:
    block = {"type": "tool_use", "id": call_id, "name": tool_call.name, "input": {}}
    yield _block("content_block_start", index, content_block=block)
    for piece in _pieces(tool_call.arguments_json):
        delta = {"type": "input_json_delta", "partial_json": piece}
        yield _block("content_block_delta", index, delta=delta)
    yield _block("content_block_stop", index)


def _block(kind: str, index: int, **fields: Any) -> tuple[str, dict]:
    return kind, {"type": kind, "index": index, **fields}
