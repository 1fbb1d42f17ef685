"""What building any of the platform's images takes, the sandbox's and the egress proxy's:
the build methods, the registry probe, Dockerfile builds and builds on a local base, and
the removal of the builds a recipe change replaces."""

import io
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import requests

METHODS = ("auto", "dockerfile", "offline")
# Air-gapped engines answer at once (no DNS); this bounds a firewall that drops packets.
REGISTRY_PROBE_SECONDS = 15
# A build step (pip install, compileall) may print nothing for minutes.
BUILD_READ_TIMEOUT_SECONDS = 1800

Log = Callable[[str], None]


class ImageBuildError(Exception):
    """The image could not be built; the message says why and what to do about it."""


def image_exists(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def remove_older_builds(
    client: docker.DockerClient,
    *,
    keep: tuple[str, ...],
    log: Log,
    repositories: tuple[str, ...],
) -> None:
    """Each recipe change makes a new gigabyte image: drop the builds it replaces. Builds are
    the tags that are hashes; others (dev, proto) are people's own and stay. Final images go
    first, so that an older base has no child left when its own turn comes."""
    for repository in repositories:
        for tag in _build_tags(client, repository):
            if tag not in keep and remove_quietly(client, tag):
                log(f"Removed the older build {tag}")


def _build_tags(client: docker.DockerClient, repository: str) -> list[str]:
    build = re.compile(rf"{re.escape(repository)}:[0-9a-f]{{16}}")
    images = client.images.list(name=repository)
    return [tag for image in images for tag in image.tags if build.fullmatch(tag)]


def remove_quietly(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.remove(image)
    except docker.errors.APIError:
        return False  # a container still uses it: the next build tries again
    return True


def registry_reachable(client: docker.DockerClient, image: str) -> bool:
    """Whether the engine can pull a Dockerfile's base image. Asks the registry for the
    image's manifest only: the build pulls the layers if the answer is yes."""
    try:
        with request_timeout(client.api, REGISTRY_PROBE_SECONDS):
            client.api.inspect_distribution(image)
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return False
    return True


@contextmanager
def request_timeout(api: docker.APIClient, seconds: float) -> Iterator[None]:
    saved, api.timeout = api.timeout, seconds
    try:
        yield
    finally:
        api.timeout = saved


def build_from_dockerfile(
    client: docker.DockerClient, source_dir: Path, tag: str, *, force: bool, log: Log
) -> None:
    with request_timeout(client.api, BUILD_READ_TIMEOUT_SECONDS):
        for chunk in client.api.build(
            path=str(source_dir), tag=tag, rm=True, forcerm=True, nocache=force, decode=True
        ):
            if "error" in chunk:
                raise ImageBuildError(f"docker build failed: {chunk['error'].strip()}")
            if text := chunk.get("stream", "").rstrip():
                log(text)


def build_on_base(
    client: docker.DockerClient, base: str, tag: str, *, context: io.BytesIO, nocache: bool
) -> None:
    """Builds ``tag`` from a tar build context whose Dockerfile starts FROM ``base``."""
    # The base is local and no registry need be reachable: never pull it.
    try:
        with request_timeout(client.api, BUILD_READ_TIMEOUT_SECONDS):
            client.images.build(
                fileobj=context, custom_context=True, tag=tag, pull=False,
                nocache=nocache, rm=True, forcerm=True,
            )  # fmt: skip
    except docker.errors.BuildError as error:
        raise ImageBuildError(f"docker build on {base} failed: {error.msg}") from None


def add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    # COPY keeps the mode: readable by the sandbox user whatever the checkout's umask was.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    archive.addfile(info, io.BytesIO(data))
