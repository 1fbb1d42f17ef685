"""What the Docker engine holds, for assertions about sandboxes coming and going."""

from sandbox.containers import docker_client


def container_exists(name: str) -> bool:
    return bool(docker_client().api.containers(all=True, filters={"name": name}))


def volume_exists(name: str) -> bool:
    return bool(docker_client().api.volumes(filters={"name": name}).get("Volumes"))
