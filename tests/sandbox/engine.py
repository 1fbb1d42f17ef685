"""What the Docker engine holds, for assertions about sandboxes coming and going."""

from pathlib import Path

from sandbox.containers import LABEL, OWNER_LABEL, docker_client


def container_exists(name: str) -> bool:
    return bool(docker_client().api.containers(all=True, filters={"name": name}))


def volume_exists(name: str) -> bool:
    return bool(docker_client().api.volumes(filters={"name": name}).get("Volumes"))


def owned_by(pid: int) -> list[str]:
    """The sandboxes that the process with this pid (on this host) made."""
    containers = docker_client().api.containers(all=True, filters={"label": LABEL})
    return [
        c["Names"][0].lstrip("/")
        for c in containers
        if c["Labels"].get(OWNER_LABEL, "").split("/")[1:2] == [str(pid)]
    ]


def cpu_usage_usec(container_id: str) -> int:
    """CPU time the container's processes have used, read from its cgroup on this host:
    ``cpu.stat``'s usage_usec under cgroup v2, ``cpuacct.usage`` (ns) under v1."""
    root = Path("/sys/fs/cgroup")
    for folder in (
        root / "system.slice" / f"docker-{container_id}.scope",
        root / "docker" / container_id,
    ):
        if (stat := folder / "cpu.stat").exists():
            fields = dict(line.split() for line in stat.read_text().splitlines())
            return int(fields["usage_usec"])
    return int((root / "cpuacct" / "docker" / container_id / "cpuacct.usage").read_text()) // 1000
