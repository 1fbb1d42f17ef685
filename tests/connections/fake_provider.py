"""A real HTTP server on 127.0.0.1 speaking just enough of the OpenAI and Anthropic APIs
for ``GET /v1/models``: 200 for the right key, 401 with the provider's JSON error body
for a wrong one; any POST is answered 404, as by a server that serves no chat. Anthropic
requests are told apart by their ``anthropic-version`` header.

The wrong-key error echoes the key it received, as some providers and proxies do, so
tests can prove Turnbox scrubs it from what it shows.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPENAI_MODELS = ["gpt-4o-mini", "gpt-4o"]
ANTHROPIC_MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5"]


class FakeProvider:
    """``key=None`` accepts any request, like an Ollama server without authentication."""

    def __init__(
        self, key: str | None, slow_seconds: float = 0.0, models: tuple[str, ...] = ()
    ) -> None:
        """``models``: the OpenAI model ids listed, instead of OPENAI_MODELS."""
        self.key = key
        self.models = models or OPENAI_MODELS
        self.slow_seconds = slow_seconds
        self.requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "FakeProvider":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                provider.requests.append({"path": self.path, **dict(self.headers)})
                if provider.slow_seconds:
                    time.sleep(provider.slow_seconds)
                anthropic = "anthropic-version" in self.headers
                if self.path != "/v1/models":
                    self._send(404, b"404 page not found", "text/plain")
                elif provider.key is None or self._key() == provider.key:
                    self._json(200, _models(anthropic, provider.models))
                else:
                    self._json(401, _auth_error(anthropic, self._key()))

            def do_POST(self) -> None:  # lists models only: every other request is refused
                provider.requests.append({"path": self.path, **dict(self.headers)})
                self._json(404, {"error": {"message": f"No route {self.path}."}})

            def _key(self) -> str:
                # Anthropic's API takes x-api-key; its current SDK sends a Bearer token.
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return self.headers.get("x-api-key") or bearer

            def _json(self, status: int, document: dict) -> None:
                self._send(status, json.dumps(document).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _models(anthropic: bool, openai_models: tuple[str, ...]) -> dict:
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in ANTHROPIC_MODELS
        ]
        first, last = ANTHROPIC_MODELS[0], ANTHROPIC_MODELS[-1]
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in openai_models]
    return {"object": "list", "data": data}


def _auth_error(anthropic: bool, received: str) -> dict:
    if anthropic:
        return {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"invalid x-api-key {received}"},
        }
    return {
        "error": {
            "message": f"Incorrect API key provided: {received}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }


def unused_port() -> int:
    """A port nothing listens on (bound, then released), for "could not reach" checks."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
