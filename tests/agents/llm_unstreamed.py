"""The scripted LLM's unstreamed OpenAI answers (``"stream": false``), which servers
that refuse streamed tool choice are asked for."""

from typing import Any

from tests.agents.llm_server import Reply
from tests.agents.llm_server import _openai_head as openai_head
from tests.agents.llm_server import _tool_id as tool_id


def openai_completion(reply: Reply, model: str, call: int) -> dict[str, Any]:
    """An unstreamed answer (``"stream": false``)."""
    message = {"role": "assistant", "content": "".join(reply.deltas)}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": tool_id(call, i), "type": "function"}
            | {"function": {"name": c.name, "arguments": c.arguments_json}}
            for i, c in enumerate(reply.tool_calls)
        ]
    choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason()}
    prompt, completion = reply.usage or (0, 0)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    head = openai_head(model, call) | {"object": "chat.completion", "usage": usage}
    return head | {"choices": [] if reply.empty else [choice]}
