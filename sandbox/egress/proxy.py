"""The egress proxy's container on the Docker engine: started, found, replaced, removed.

One proxy serves the engine (TURNBOX_EGRESS_PROXY): Squid with the files of platform/egress/,
on an outbound network of its own, with a state volume where the sandboxes' policies go.
"""

import contextlib
import time
from dataclasses import dataclass

import docker
from django.conf import settings
from docker.errors import APIError, NotFound
from docker.types import LogConfig, Mount

from sandbox.builds import image_exists
from sandbox.egress import image as egress_image
from sandbox.egress.errors import EgressUnavailable
from sandbox.egress.refused import refused_networks

PORT = 3128
STATE = "/run/turnbox-egress"
# Debian's proxy user, which Squid and its helper run as.
PROXY_UID = 13
LABEL = "turnbox.egress"
READY_SECONDS = 30
READY_LINE = "Accepting HTTP Socket connections"


@dataclass(frozen=True)
class Proxy:
    id: str
    name: str


def proxy_name() -> str:
    return settings.TURNBOX_EGRESS_PROXY


def ensure_proxy(
    *,
    client: docker.DockerClient,
    replace: bool = False,
    extra_hosts: dict[str, str] | None = None,
) -> Proxy:
    """Starts the proxy unless it runs already, from the current image; with replace,
    starts a new one (sandboxes linked to the old one lose the network). extra_hosts
    goes to its hosts file, which Squid reads before asking DNS (tests)."""
    name, tag = proxy_name(), egress_image.image_tag()
    details = _inspect(client, name)
    current = details is not None and details["Config"]["Image"] == tag
    if current and not replace and not details["State"].get("Restarting"):
        if not details["State"]["Running"]:
            _start_again(client, name)
        return Proxy(id=details["Id"], name=name)
    if details is not None:
        client.api.remove_container(name, force=True)
    if not image_exists(client, tag):
        raise EgressUnavailable(
            f"The egress proxy's image {tag} is missing: run `python manage.py egress_proxy`."
        )
    _ensure_outbound_network(client, f"{name}-out")
    return _start_proxy(client, name, tag, extra_hosts or {})


def running_proxy(client: docker.DockerClient) -> Proxy:
    """The proxy for a new sandbox: the running one, else started (never replaced)."""
    details = _inspect(client, proxy_name())
    if details is None or details["State"].get("Restarting"):
        # A proxy that keeps failing (its image changed under it, a broken start) is
        # replaced: its sandboxes have no working network anyway.
        return ensure_proxy(client=client, replace=details is not None)
    if not details["State"]["Running"]:
        _start_again(client, details["Id"])
    return Proxy(id=details["Id"], name=proxy_name())


def _start_again(client: docker.DockerClient, container: str) -> None:
    started = time.time()
    client.api.start(container)
    _wait_ready(client, container, since=started - 1)


def remove_proxy(*, client: docker.DockerClient) -> None:
    """Removes the proxy container and its outbound network (tests, `egress_proxy --stop`)."""
    name = proxy_name()
    for remove in (
        lambda: client.api.remove_container(name, force=True),
        lambda: client.api.remove_network(f"{name}-out"),
        lambda: client.api.remove_volume(f"{name}-state", force=True),
    ):
        with contextlib.suppress(NotFound):
            remove()


def _inspect(client: docker.DockerClient, name: str) -> dict | None:
    try:
        return client.api.inspect_container(name)
    except NotFound:
        return None


def _ensure_outbound_network(client: docker.DockerClient, name: str) -> None:
    if client.api.networks(names=[name]):
        return
    try:
        client.api.create_network(name, driver="bridge", labels={LABEL: "1"}, check_duplicate=True)
    except APIError as error:
        if error.status_code != 409:  # made by another process just now
            raise


def _start_proxy(client: docker.DockerClient, name: str, tag: str, hosts: dict) -> Proxy:
    state = f"{name}-state"
    try:
        client.api.create_volume(
            state,
            driver="local",
            driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=64m,mode=0755"},
            labels={LABEL: "1"},
        )
        container = client.containers.create(tag, **_proxy_options(name, state, hosts))
    except APIError as error:
        if error.status_code != 409:
            raise
        return running_proxy(client)  # another process created it first
    started = time.time()
    container.start()
    _wait_ready(client, container.id, since=started - 1)
    return Proxy(id=container.id, name=name)


def _proxy_options(name: str, state: str, hosts: dict) -> dict:
    # Paths inside the proxy container.
    tmpfs = ("/run/squid", "/tmp", "/var/spool/squid", "/var/log/squid", "/var/cache/squid")  # noqa: S108
    return dict(
        name=name,
        hostname="turnbox-egress",
        labels={LABEL: "1"},
        runtime="runc",
        detach=True,
        network=f"{name}-out",
        read_only=True,
        tmpfs={path: "size=16m" for path in tmpfs},
        mounts=[Mount(STATE, state, type="volume")],
        # NET_ADMIN for the firewall of its own network namespace; SETUID, SETGID and
        # CHOWN to hand over to the proxy user, who keeps none of them.
        cap_drop=["ALL"],
        cap_add=["NET_ADMIN", "SETUID", "SETGID", "CHOWN"],
        security_opt=["no-new-privileges"],
        mem_limit="512m",
        pids_limit=256,
        restart_policy={"Name": "unless-stopped"},
        extra_hosts=hosts,
        environment={
            "TURNBOX_EGRESS_REFUSE": ",".join(refused_networks()),
            "TURNBOX_EGRESS_FIREWALL": "on" if settings.TURNBOX_EGRESS_FIREWALL else "off",
        },
        log_config=LogConfig(
            type=LogConfig.types.JSON, config={"max-size": "10m", "max-file": "2"}
        ),
    )


def _wait_ready(client: docker.DockerClient, container: str, *, since: float) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        details = client.api.inspect_container(container)
        logs = client.api.logs(container, stdout=False, stderr=True, since=int(since))
        if READY_LINE.encode() in logs:
            return
        if not details["State"]["Running"] and details["State"]["Status"] != "created":
            tail = logs.decode(errors="replace").strip().splitlines()[-5:]
            raise EgressUnavailable("The egress proxy stopped: " + " ".join(tail))
        time.sleep(0.1)
    raise EgressUnavailable(f"The egress proxy did not start within {READY_SECONDS} s.")
