"""A network-enabled sandbox's link to the egress proxy: an internal Docker network of
its own (no route out, no host address on it) which only it and the proxy join; the
sandbox's proxy variables point at the proxy's address there. That address names the
session to the proxy: its policy is written under it into the proxy's state volume (the
Docker archive API, so a remote engine works too), and the proxy's helper reads it for
every request."""

import contextlib
import io
import ipaddress
import json
import os
import random
import tarfile
import time
from dataclasses import dataclass

import docker
from django.conf import settings
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool, Mount

from sandbox.egress.errors import EgressUnavailable, ProxyGone
from sandbox.egress.proxy import PORT, PROXY_UID, STATE, running_proxy
from sandbox.egress.refused import engine_is_local
from sandbox.network import NetworkPolicy

# containers.LABEL (not imported: that module imports this one).
SANDBOX_LABEL = "turnbox.sandbox"
# A sandbox's network: the gateway address (never configured), the proxy, the sandbox.
SUBNET_PREFIX = 29
SUBNET_ATTEMPTS = 32
# No address of the host on a sandbox's network: only the proxy answers there.
NETWORK_OPTIONS = {"com.docker.network.bridge.inhibit_ipv4": "true"}
# The helper refuses a policy past this, and removes it a while later.
POLICY_LIFETIME_SECONDS = 24 * 3600
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SANDBOX_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# pip cannot write to the image's read-only Python: packages go to /tmp, first on the path.
PACKAGES_DIR = "/tmp/python-packages"  # noqa: S108 (a path inside the sandbox)
LOCAL = "localhost,127.0.0.1,::1"
# The sandbox's resolver: not loopback, and unreachable from its network. Names are the
# proxy's to resolve; an engine older than 26.0 would otherwise forward the sandbox's
# lookups through its embedded resolver from the host (CVE-2024-29018).
SANDBOX_DNS = ["192.0.2.1"]


@dataclass
class Link:
    """A sandbox's own network, and the proxy's address on it, which names the session."""

    network: str
    proxy_id: str
    proxy_address: str

    @property
    def key(self) -> str:
        return self.proxy_address.replace(":", "_")


def create_link(*, client: docker.DockerClient, name: str, labels: dict) -> Link:
    """The sandbox's own network, named like it, with the proxy on it. Its policy comes
    when a session takes the sandbox (assign)."""
    proxy = running_proxy(client)
    subnet = _create_network(client, name, labels)
    address = str(subnet[2])
    try:
        client.api.connect_container_to_network(proxy.id, name, ipv4_address=address)
    except BaseException:
        remove_link(client=client, name=name)
        raise
    # A policy left by an earlier network of this subnet is overwritten by assign(), before
    # any code runs here.
    return Link(network=name, proxy_id=proxy.id, proxy_address=address)


def _create_network(client: docker.DockerClient, name: str, labels: dict):
    pool = ipaddress.ip_network(settings.TURNBOX_EGRESS_SUBNETS)
    count = 2 ** (SUBNET_PREFIX - pool.prefixlen)
    size = 2 ** (32 - SUBNET_PREFIX)
    for _ in range(SUBNET_ATTEMPTS):
        # Random, not sequential: processes that share the engine rarely pick alike.
        first = int(pool.network_address) + random.randrange(count) * size  # noqa: S311
        subnet = ipaddress.ip_network((first, SUBNET_PREFIX))
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=str(subnet[1]))])
        try:
            client.api.create_network(
                name, driver="bridge", internal=True, labels=labels, ipam=ipam,
                options=NETWORK_OPTIONS, check_duplicate=True,
            )  # fmt: skip
        except APIError as error:
            if "overlap" in str(error).lower():
                continue
            raise
        return subnet
    raise EgressUnavailable(
        f"No free subnet for the sandbox's network in {pool} (TURNBOX_EGRESS_SUBNETS)."
    )


def container_options(link: Link, *, packages_mb: int) -> dict:
    """What a network-enabled sandbox adds to its container: the network, the usual proxy
    variables (pip, requests, urllib, curl and wget read them), a place pip can write."""
    url = f"http://{link.proxy_address}:{PORT}"
    environment = {name: url for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    environment |= {"NO_PROXY": LOCAL, "no_proxy": LOCAL}
    environment |= {
        name: SANDBOX_CA_BUNDLE
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")
    }
    environment |= {
        "PIP_TARGET": PACKAGES_DIR,
        "PYTHONPATH": PACKAGES_DIR,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    mounts = []
    if bundle := ca_bundle():
        mounts.append(Mount(SANDBOX_CA_BUNDLE, bundle, type="bind", read_only=True))
    # A folder of its own, there before Python starts: a folder on the path that did not
    # exist at start-up is never looked at again by the running kernel.
    packages = f"size={packages_mb}m,uid=1000,gid=1000,mode=0755"
    return {
        "network_mode": link.network,
        "environment": environment,
        "mounts": mounts,
        "tmpfs": {PACKAGES_DIR: packages},
        # The sandbox resolves no names itself (the proxy does): a lookup fails in a second.
        "dns": SANDBOX_DNS,
        "dns_opt": ["timeout:1", "attempts:1"],
    }


def ca_bundle() -> str | None:
    """The certificate bundle sandboxes trust, from the engine's host: by default ("auto")
    the host's own bundle when the engine is local, so that sandboxes trust what the host
    trusts (a TLS-inspecting company proxy's certificate included)."""
    value = settings.TURNBOX_EGRESS_CA_BUNDLE.strip()
    if value in ("", "none"):
        return None
    if value != "auto":
        return value
    local = engine_is_local()
    return HOST_CA_BUNDLE if local and os.path.isfile(HOST_CA_BUNDLE) else None


def assign(
    *, client: docker.DockerClient, link: Link, policy: NetworkPolicy, session_id: str
) -> None:
    """Gives the sandbox's network its session's policy; takes effect with the next request."""
    payload = policy.as_json() | {
        "session": session_id,
        "expires": time.time() + POLICY_LIFETIME_SECONDS,
    }
    data = json.dumps(payload).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(f"policies/{link.key}")
        info.size, info.mode, info.mtime = len(data), 0o640, int(time.time())
        info.uid = info.gid = PROXY_UID
        tar.addfile(info, io.BytesIO(data))
    try:
        client.api.put_archive(link.proxy_id, STATE, archive.getvalue())
    except NotFound as error:
        raise ProxyGone("The egress proxy was replaced; the sandbox must start again.") from error


def remove_link(*, client: docker.DockerClient, name: str) -> None:
    """Removes a sandbox's network, the proxy's end of it first; quiet when it is gone."""
    try:
        details = client.api.inspect_network(name)
    except NotFound:
        return
    if SANDBOX_LABEL not in (details.get("Labels") or {}):
        return  # not a sandbox's network: somebody else's, whatever its name
    for container in details.get("Containers") or {}:
        with contextlib.suppress(NotFound):
            client.api.disconnect_container_from_network(container, name, force=True)
    with contextlib.suppress(NotFound):
        client.api.remove_network(name)
