"""Sandbox containers: every hardening flag lives here, in one place.

A sandbox is one container plus one tmpfs-backed Docker volume for its working folder.
The volume (not a plain --tmpfs) is what lets files move through the Docker archive API
while the root file system stays read-only, under runc and gVisor alike.
"""

import logging
import time
import uuid
from dataclasses import dataclass, replace
from functools import cache

import docker
from django.conf import settings
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Mount, Ulimit
from requests.exceptions import RequestException

from sandbox.channel import BridgeChannel, ChannelClosed
from sandbox.egress import links
from sandbox.egress.errors import EgressUnavailable
from sandbox.freezer import Freezer
from sandbox.image import configured_image
from sandbox.owners import owner_alive, owner_id  # noqa: F401 (the engine imports them from here)

logger = logging.getLogger(__name__)

LABEL = "turnbox.sandbox"
OWNER_LABEL = "turnbox.owner"
CREATED_LABEL = "turnbox.created"
WORKDIR = "/workspace"
USER = "1000:1000"
COMMAND = ["/usr/bin/tini", "--", "/opt/python/bin/python", "/opt/turnbox/bridge.py"]
# The sandbox's own /tmp: a private tmpfs, the one writable place besides /workspace.
TMP = "/tmp"  # noqa: S108
ENVIRONMENT = {
    "HOME": TMP,
    "MPLCONFIGDIR": f"{TMP}/.matplotlib",
    "IPYTHONDIR": f"{TMP}/.ipython",
    "JUPYTER_RUNTIME_DIR": f"{TMP}/.jupyter",
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "PYTHONUNBUFFERED": "1",
    "TURNBOX_WORKDIR": WORKDIR,
}
# Without a network, installers fail at once instead of retrying for seconds of billed
# time (pip's retries took about 9 s); curl and wget fail at once by themselves.
NO_NETWORK_ENVIRONMENT = {"PIP_RETRIES": "0", "PIP_TIMEOUT": "3"}
READY_TIMEOUT_SECONDS = 60


class SandboxUnavailable(RuntimeError):
    """The sandbox could not be started; the message says why in plain words."""


# gVisor registered as "runsc" runs with --network=none: no network at all. Sandboxes with
# a network run under a second registration of gVisor that has one (scripts/docker.sh
# registers both). An engine without it refuses them; whether they may then leave gVisor
# for runc is the operator's call, not a workspace's.
GVISOR = "runsc"
GVISOR_WITH_NETWORK = "runsc-net"
# Measured (docs/sandbox.md, Runtimes): about 15 host threads per process of the code,
# and each freeze and thaw adds up to about 15 more per process for a while.
GVISOR_PIDS = 1024
NO_NETWORK_UNDER_GVISOR = (
    "Network access is not available under gVisor (runsc) on this engine: it has no "
    f"{GVISOR_WITH_NETWORK} runtime. The operator can run sessions with a network under runc "
    "by setting TURNBOX_SANDBOX_NETWORK_RUNTIME=runc."
)


def network_runtime() -> str:
    """The runtime of sandboxes with a network (docs/sandbox.md, Runtimes)."""
    return settings.TURNBOX_SANDBOX_NETWORK_RUNTIME or settings.TURNBOX_SANDBOX_RUNTIME


def network_refused(runtime: str) -> bool:
    """Whether sandboxes with a network cannot run under this runtime on this engine."""
    return runtime == GVISOR and GVISOR_WITH_NETWORK not in engine_runtimes()


def engine_runtimes() -> frozenset[str]:
    """The runtimes the engine has registered (asked once per process, once it answers)."""
    global _engine_runtimes
    if _engine_runtimes is None:
        try:
            _engine_runtimes = frozenset(docker_client().info().get("Runtimes") or {})
        except (DockerException, RequestException):
            return frozenset()
    return _engine_runtimes


_engine_runtimes: frozenset[str] | None = None


def host_pids(spec: "Spec") -> int:
    """The engine's process limit for a sandbox. gVisor's own threads and its ptrace stubs
    run in the container's cgroup (about 80 idle, up to 130 more while output pours
    through pipes, more again when a thaw wakes every stopped process at once); when they
    hit the limit gVisor panics and the whole sandbox stops, so they get room of their
    own on top of the code's."""
    return spec.limits.pids + (GVISOR_PIDS if spec.runtime == GVISOR else 0)


def container_runtime(spec: "Spec") -> str:
    """The engine's runtime for a spec: gVisor's networked registration for a sandbox
    with a network."""
    return GVISOR_WITH_NETWORK if spec.egress and spec.runtime == GVISOR else spec.runtime


@dataclass(frozen=True)
class Limits:
    timeout: float
    memory_mb: int
    cpus: float
    pids: int
    disk_mb: int
    tmp_mb: int
    max_output: int
    interrupt_grace: float

    @classmethod
    def from_settings(cls, **overrides) -> "Limits":
        limits = cls(
            timeout=settings.TURNBOX_SANDBOX_TIMEOUT_SECONDS,
            memory_mb=settings.TURNBOX_SANDBOX_MEMORY_MB,
            cpus=settings.TURNBOX_SANDBOX_CPUS,
            pids=settings.TURNBOX_SANDBOX_PIDS,
            disk_mb=settings.TURNBOX_SANDBOX_DISK_MB,
            tmp_mb=settings.TURNBOX_SANDBOX_TMP_MB,
            max_output=settings.TURNBOX_SANDBOX_MAX_OUTPUT_BYTES,
            interrupt_grace=settings.TURNBOX_SANDBOX_INTERRUPT_GRACE_SECONDS,
        )
        return replace(limits, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Spec:
    """What a container is made of; two sandboxes of one spec are interchangeable."""

    image: str
    runtime: str
    limits: Limits
    # A network of its own, shared with the egress proxy only (sandbox/egress/links.py); the
    # session's policy is given to the proxy when a session takes the sandbox.
    egress: bool = False

    @classmethod
    def default(cls, *, runtime: str | None = None, egress: bool = False, **limits) -> "Spec":
        return cls(
            image=configured_image(),
            runtime=runtime or settings.TURNBOX_SANDBOX_RUNTIME,
            limits=Limits.from_settings(**limits),
            egress=egress,
        )

    @property
    def container_key(self) -> tuple:
        """What the container is made of: sandboxes with equal keys are interchangeable."""
        limits = self.limits
        return (
            self.image,
            self.runtime,
            limits.memory_mb,
            limits.cpus,
            limits.pids,
            limits.disk_mb,
            limits.tmp_mb,
            self.egress,
        )


@cache
def docker_client() -> docker.DockerClient:
    # One client per process: it holds a connection pool that many sessions share.
    return docker.from_env(timeout=60, max_pool_size=64)


class Sandbox:
    """A started container with its bridge channel. Destroy it exactly once."""

    def __init__(
        self,
        *,
        spec: Spec,
        name: str,
        container,
        channel: BridgeChannel,
        link: links.Link | None = None,
    ):
        self.spec = spec
        self.name = name
        self.container = container
        self.channel = channel
        self.link = link
        # Frozen between executions (Session); thawed before the next one.
        self.freezer = Freezer(self)

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        try:
            self.channel.wait_ready(timeout)
        except (ChannelClosed, TimeoutError) as exc:
            detail = self.channel.stderr_tail().strip().splitlines()[-3:]
            raise SandboxUnavailable(
                f"The sandbox did not start ({exc}). " + " ".join(detail)
            ) from exc

    def alive(self) -> bool:
        return not self.channel.closed

    def out_of_memory(self) -> bool:
        """Whether the container was stopped by its memory limit (once it has stopped)."""
        api = docker_client().api
        try:
            api.wait(self.name, timeout=3)
            return bool(api.inspect_container(self.name)["State"].get("OOMKilled"))
        except DockerException:  # still running, or gone: no verdict
            return False

    @property
    def frozen(self) -> bool:
        return self.freezer.frozen

    def freeze_soon(self) -> None:
        """Stops every process of the sandbox but the bridge once it has been idle for a
        moment, until ``thaw``: between executions nothing runs, background loops and
        threads included, since only executions are charged (sandbox.freezer)."""
        self.freezer.freeze_soon()

    def thaw(self) -> None:
        """Before the next request: nothing is frozen, or about to be, once it returns."""
        self.freezer.thaw()

    def held(self):
        """A block during which the sandbox is not frozen: for work that starts a process
        in it (docker exec), which a freeze half-way would stop for good."""
        return self.freezer.held()

    def destroy(self) -> None:
        self.channel.close()  # first: a freeze waiting for the bridge gives up at once
        self.freezer.stop()
        remove_sandbox(self.name, network=self.link is not None)


def _volume_options(limits: Limits) -> dict:
    size = f"size={limits.disk_mb}m,uid=1000,gid=1000,mode=0700"
    return {"type": "tmpfs", "device": "tmpfs", "o": size}


def _container_options(spec: Spec, name: str, labels: dict, link: links.Link | None) -> dict:
    options = _isolated_options(spec, name, labels)
    if link is None:
        options["environment"] = {**options["environment"], **NO_NETWORK_ENVIRONMENT}
    else:
        extra = links.container_options(link, packages_mb=spec.limits.disk_mb)
        options["environment"] = {**options["environment"], **extra.pop("environment")}
        options["mounts"] = [*options["mounts"], *extra.pop("mounts")]
        options["tmpfs"] = {**options["tmpfs"], **extra.pop("tmpfs")}
        options |= extra
    return options


def _isolated_options(spec: Spec, name: str, labels: dict) -> dict:
    limits = spec.limits
    return dict(
        command=COMMAND,
        name=name,
        hostname="sandbox",
        labels=labels,
        runtime=container_runtime(spec),
        stdin_open=True,
        detach=True,
        user=USER,
        working_dir=WORKDIR,
        environment=ENVIRONMENT,
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        pids_limit=host_pids(spec),
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",
        nano_cpus=int(limits.cpus * 1e9),
        network_mode="none",
        ipc_mode="private",
        mounts=[Mount(WORKDIR, name, type="volume")],
        tmpfs={TMP: f"size={limits.tmp_mb}m,mode=1777"},
        ulimits=[Ulimit(name="nofile", soft=1024, hard=1024)],
        # The bridge's stdout carries every event: Docker must not also log it to disk.
        log_config=LogConfig(type=LogConfig.types.NONE),
    )


def _labels() -> dict:
    return {LABEL: "1", OWNER_LABEL: owner_id(), CREATED_LABEL: str(int(time.time()))}


def start_sandbox(spec: Spec) -> Sandbox:
    """Creates and starts a container; returns once the bridge has said it is ready."""
    name = f"turnbox-sandbox-{uuid.uuid4().hex[:16]}"
    labels = _labels()
    try:
        client = docker_client()
    except DockerException as exc:
        raise SandboxUnavailable(f"Docker is not reachable: {exc}") from exc
    link = None
    try:
        client.volumes.create(
            name=name, driver="local", driver_opts=_volume_options(spec.limits), labels=labels
        )
        if spec.egress:
            link = links.create_link(client=client, name=name, labels=labels)
        options = _container_options(spec, name, labels, link)
        container = client.containers.create(spec.image, **options)
        # Attached before start, so not one byte of the bridge's output is missed.
        raw = client.api.attach_socket(
            container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        channel = BridgeChannel(raw)
        container.start()
    except ImageNotFound as exc:
        remove_sandbox(name, network=spec.egress)
        raise SandboxUnavailable(
            f"The sandbox image {spec.image} is missing: run `python manage.py "
            "build_sandbox_image`."
        ) from exc
    except EgressUnavailable as exc:
        remove_sandbox(name, network=spec.egress)
        raise SandboxUnavailable(f"The sandbox's network could not be set up: {exc}") from exc
    except (DockerException, RequestException) as exc:
        # Connection errors (the engine restarting) come from requests, unwrapped.
        remove_sandbox(name, network=spec.egress)
        raise SandboxUnavailable(f"Docker could not start the sandbox: {exc}") from exc
    sandbox = Sandbox(spec=spec, name=name, container=container, channel=channel, link=link)
    try:
        sandbox.wait_ready()
    except BaseException:
        sandbox.destroy()
        raise
    return sandbox


def remove_sandbox(name: str, *, network: bool = True) -> None:
    """Removes a container, its volume and (with network) its network; quiet when they are
    gone already."""
    client = docker_client()
    try:
        client.api.remove_container(name, force=True, v=True)
    except NotFound:
        pass
    except (DockerException, RequestException):
        logger.exception("Could not remove sandbox container %s; the reaper will.", name)
    try:
        client.api.remove_volume(name, force=True)
    except NotFound:
        pass
    except (DockerException, RequestException):
        logger.exception("Could not remove sandbox volume %s; the reaper will.", name)
    if network:
        try:
            links.remove_link(client=client, name=name)
        except (DockerException, RequestException):
            logger.exception("Could not remove sandbox network %s; the reaper will.", name)
