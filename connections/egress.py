"""Where a connection may send its requests.

A base URL is typed by a workspace admin, and Test makes the server request it: without
this check any admin could reach the platform's own database, Redis or a cloud metadata
endpoint (169.254.169.254) and read the answer back. Servers on private networks (a
local Ollama, a vLLM box) are allowed only when the operator says so."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

ALLOW_SETTING = "TURNBOX_ALLOW_PRIVATE_BASE_URLS"


def private_address_problem(url: str) -> str:
    """A plain refusal when ``url``'s host resolves to a non-public address, else ""."""
    if settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS:
        return ""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return ""  # Unresolvable: nothing can be reached; Test says so in its own words.
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not address.is_global:
            return (
                f"{parts.hostname} is a private or local address ({address}). The operator "
                f"allows servers on private networks with {ALLOW_SETTING}=true."
            )
    return ""
