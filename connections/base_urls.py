"""Where a connection may send its requests.

A base URL is typed by a workspace admin, and Test makes the server request it: without
this check any admin could reach the platform's own database, Redis or a cloud metadata
endpoint (169.254.169.254) and read the answer back. Servers on private networks (a
local Ollama, a vLLM box) are allowed only when the operator says so."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore2
import httpx2
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


class PublicAddressesOnly(httpcore2.SyncBackend):
    """Resolves the name itself and connects to the address it checked. Checking at
    saving and at Test is not enough alone: a name can answer a public address to the
    check and a private one to the connection a moment later (DNS rebinding). Every
    connection, redirects included, goes through here."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = public_address(host, port)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


def public_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise httpcore2.ConnectError(str(error)) from error
    addresses = [ipaddress.ip_address(sockaddr[0].split("%")[0]) for *_, sockaddr in infos]
    for address in addresses:
        if not address.is_global:
            raise httpcore2.ConnectError(
                f"{host} resolved to a private or local address ({address}); the operator "
                f"allows servers on private networks with {ALLOW_SETTING}=true"
            )
    return str(addresses[0])


class GuardedTransport(httpx2.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # Same pool as httpx builds, but connecting through the guarded backend.
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            network_backend=PublicAddressesOnly(),
        )


class AsyncPublicAddressesOnly(httpcore2.AnyIOBackend):
    """PublicAddressesOnly for the async SDK clients (an agent's turn streams from the
    model inside the event loop). The name is resolved in a thread: getaddrinfo blocks."""

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = await asyncio.to_thread(public_address, host, port)
        return await super().connect_tcp(address, port, timeout, local_address, socket_options)


class AsyncGuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            network_backend=AsyncPublicAddressesOnly(),
        )


def transport_for_base_urls() -> httpx2.HTTPTransport | None:
    """The transport provider SDKs must use; None (the SDK's own) when private servers
    are allowed anyway."""
    return None if settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS else GuardedTransport()


def async_transport_for_base_urls() -> httpx2.AsyncHTTPTransport | None:
    """transport_for_base_urls for the SDKs' async clients."""
    return None if settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS else AsyncGuardedTransport()
