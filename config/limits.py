"""An ASGI guard in front of Django: Django's ASGI handler reads a whole request body
(spooling it to a temporary file) before any middleware or view can refuse it."""

from collections.abc import Awaitable, Callable

MESSAGE = (
    "The request is larger than this server accepts ({limit} MB). "
    "Send fewer or smaller files at once."
)


class RequestSizeLimit:
    def __init__(self, app: Callable[..., Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and _declared_length(scope) > self.limit:
            await _refuse(send, MESSAGE.format(limit=self.limit // (1024 * 1024)))
            return
        await self.app(scope, receive, send)


def _declared_length(scope: dict) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # Django answers a malformed length itself.
    return 0


async def _refuse(send: Callable, message: str) -> None:
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
