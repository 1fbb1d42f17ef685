"""Websocket origins: a socket opens only from a page of this very site.

Browsers send the session cookie with a websocket handshake from any page of the same
*site*, and another port or scheme of the same host is the same site. So the Origin must
match the scheme, host and port that the handshake itself was sent to (the Host header,
and the scheme the browser used: wss, or https as the TLS proxy in front reports it), or
be one of CSRF_TRUSTED_ORIGINS, exactly as Django checks the Origin of a form post. The
host must be one of ALLOWED_HOSTS too.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


class SameOriginValidator:
    """ASGI middleware: refuses a websocket whose Origin is not this site's own."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def origin_allowed(scope: dict) -> bool:
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    origin = normalise(headers.get(b"origin", ""))
    host = headers.get(b"host", "")
    domain, _ = split_domain_port(host)
    if origin is None or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    if origin == normalise(f"{_scheme(scope, headers)}://{host}"):
        return True
    return _trusted(origin)


def normalise(url: str) -> str | None:
    """scheme://host:port with the default port spelled out; None for anything else
    (a missing or "null" origin, a path, credentials)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return f"{scheme}://{parts.hostname.lower()}:{port}"


def _scheme(scope: dict, headers: dict[bytes, str]) -> str:
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        # Django's setting names the header as META does: HTTP_X_FORWARDED_PROTO.
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        if headers.get(name, "").split(",")[0].strip() == proxy[1]:
            return "https"
    return "http"


def _trusted(origin: str) -> bool:
    """As Django's CSRF check reads CSRF_TRUSTED_ORIGINS: exact origins, or
    `scheme://*.domain` for every subdomain of domain (on the scheme's default port)."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":")
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        if "://*." in entry:
            entry_scheme, _, suffix = entry.partition("://*")
            if (
                entry_scheme.lower() == scheme
                and int(port) == DEFAULT_PORTS[scheme]
                and host.endswith(suffix.lower())
            ):
                return True
        elif normalise(entry) == origin:
            return True
    return False
