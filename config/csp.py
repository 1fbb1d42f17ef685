"""Content-Security-Policy: every page may run, style and load only the site's own files.

No inline script, no inline style, no event-handler attribute: a name or message that
slips past escaping still cannot run or restyle the page. Pages that need their own
policy (Drive downloads, the frame that shows a sandbox's HTML output) set it
themselves, and this middleware leaves it as they set it.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Charts and images shown by the sandbox arrive as data: URLs.
        "img-src 'self' data:",
        # 'self' covers the site's own websockets (ws: and wss:) too.
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Adds POLICY to each response that has no policy of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
