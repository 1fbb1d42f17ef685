"""What the egress proxy refuses to reach, besides the policy of each session: the
listed private ranges, the sandboxes' own networks and the Docker engine host's addresses."""

import contextlib
import ipaddress
import os
import socket
from urllib.parse import urlsplit

from django.conf import settings

from sandbox.egress import image as egress_image
from sandbox.egress.errors import EgressUnavailable


def refused_networks() -> list[str]:
    """What the proxy refuses besides platform/egress/refused-networks: the operator's
    TURNBOX_EGRESS_REFUSE, the sandboxes' own networks (one sandbox must not reach another
    through the proxy, whatever range they are given) and the engine host's addresses:
    with a local engine this host's own, with a remote one those its name in DOCKER_HOST
    resolves to (its other addresses: TURNBOX_EGRESS_REFUSE)."""
    networks = [*settings.TURNBOX_EGRESS_REFUSE, settings.TURNBOX_EGRESS_SUBNETS]
    if not engine_is_local():
        networks += [f"{address}/{address.max_prefixlen}" for address in engine_addresses()]
    else:
        # Those the list refuses already (loopback, the bridges, link-local) come and go
        # with containers: left out, so that what is added stays put.
        built_in = [ipaddress.ip_network(n) for n in _listed_networks()]
        networks += [
            f"{address}/{address.max_prefixlen}"
            for address in host_addresses()
            if not any(address in network for network in built_in)
        ]
    return list(dict.fromkeys(networks))


def _listed_networks() -> list[str]:
    text = (egress_image.SOURCE_DIR / "refused-networks").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def engine_is_local() -> bool:
    return (os.environ.get("DOCKER_HOST") or "unix://").startswith("unix://")


def engine_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of the remote engine's host, as DOCKER_HOST names it."""
    url = os.environ.get("DOCKER_HOST", "")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise EgressUnavailable(f"DOCKER_HOST={url!r} names no engine host the proxy could refuse.")
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise EgressUnavailable(
            f"The Docker engine's host {host} (DOCKER_HOST) could not be resolved ({error}), "
            "so the egress proxy cannot refuse its addresses."
        ) from error
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in found}
    return sorted(addresses, key=lambda address: (address.version, address))


def host_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """This network namespace's own addresses, from the kernel's tables (Linux)."""
    found = []
    with contextlib.suppress(OSError), open("/proc/net/fib_trie") as table:
        last = ""
        for line in table:
            if "/32 host LOCAL" in line:
                found.append(ipaddress.ip_address(last))
            elif "|--" in line:
                last = line.split("|--")[1].strip()
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            digits = line.split()[0]
            found.append(ipaddress.IPv6Address(int(digits, 16)))
    return sorted(set(found), key=lambda address: (address.version, address))
