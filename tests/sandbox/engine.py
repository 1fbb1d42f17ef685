"""What the Docker engine holds, for assertions about sandboxes coming and going."""

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
