"""The production stack's images: the web/worker image (platform/Dockerfile) and, where no
registry is reachable, PostgreSQL, Redis and nginx from Debian's packages.

Where the engine can pull from a registry, the web image is platform/Dockerfile as it is
and the other three are the compose file's defaults (postgres, redis, nginx). Offline, one
Debian bootstrap gives two bases, both tagged by a hash of their recipe and reused while it
holds: the web base (Python, a virtualenv with the locked packages installed from wheels
downloaded on the host) on which platform/Dockerfile itself is built, its FROM replaced by
a build argument; and the services base (postgresql, redis-server, nginx), with a thin image
for each service on top, from platform/offline/. The steps are those of the sandbox image
(sandbox/builds.py, sandbox/debian.py).
"""

import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import docker
from django.conf import settings

from sandbox import builds, debian
from sandbox.builds import ImageBuildError, Log
from sandbox.image import GLIBC_MINOR, PYTHON_VERSION

RECIPE_VERSION = 1
ROOT = Path(settings.BASE_DIR)
DOCKERFILE = ROOT / "platform" / "Dockerfile"
OFFLINE_DIR = ROOT / "platform" / "offline"
LOCK = ROOT / "requirements.lock"
# The Dockerfile's default base; offline, its build argument names the local base instead.
PYTHON_IMAGE = "python:3.11-slim-bookworm"
WEB_BASE = "turnbox-web-base"
SERVICES_BASE = "turnbox-services-base"
VENV = "/opt/venv"
# Paths inside the new root, not on the host.
ROOT_WHEELS = "/tmp/wheels"  # noqa: S108
WEB_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini")
SERVICES_PACKAGES = ("postgresql-15", "redis-server", "nginx-light", "ca-certificates")
# The python image's layout, so that platform/Dockerfile runs unchanged on the web base.
# PIP_NO_INDEX: its `pip install` finds every pin installed; a miss fails at once.
WEB_CHANGES = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PIP_NO_INDEX=1",
)
SERVICES_CHANGES = ("ENV LANG=C.UTF-8",)
# The compose file's images where a registry is reachable; offline, ours of the same role.
SERVICES = {
    "postgres": ("postgres:15", "turnbox-postgres"),
    "redis": ("redis:7", "turnbox-redis"),
    "nginx": ("nginx:1.27", "turnbox-nginx"),
}
# Debian 12's Python is 3.11.2: redis needs async-timeout below 3.11.3, which a lock compiled
# on a later 3.11 leaves out.
DEBIAN_PYTHON_EXTRAS = ("async-timeout>=4.0.3",)
UNUSED_FOLDERS = ("usr/share/doc", "usr/share/man", "usr/share/info")


@dataclass(frozen=True)
class StackImages:
    web: str
    postgres: str
    redis: str
    nginx: str
    method: str

    def env(self) -> dict[str, str]:
        """The variables platform/compose.yaml reads its image names from."""
        return {
            "TURNBOX_IMAGE": self.web,
            "TURNBOX_POSTGRES_IMAGE": self.postgres,
            "TURNBOX_REDIS_IMAGE": self.redis,
            "TURNBOX_NGINX_IMAGE": self.nginx,
        }


def build_stack_images(
    *,
    client: docker.DockerClient | None = None,
    web_tag: str = "turnbox:latest",
    method: str = "auto",
    force: bool = False,
    log: Log = print,
) -> StackImages:
    """Builds the web image (always: the code changes) and, offline, the services' images
    unless the engine has them; returns the names the compose file should run."""
    if method not in builds.METHODS:
        raise ValueError(f"method must be one of {', '.join(builds.METHODS)}, not {method!r}")
    if client is None:
        with closing(docker.from_env()) as own:
            return build_stack_images(
                client=own, web_tag=web_tag, method=method, force=force, log=log
            )
    if method == "auto":
        reachable = builds.registry_reachable(client, PYTHON_IMAGE)
        method = "dockerfile" if reachable else "offline"
    started = time.monotonic()
    if method == "dockerfile":
        log(f"Building {web_tag} from platform/Dockerfile")
        _build_web(client, web_tag, base=PYTHON_IMAGE, force=force, log=log)
        images = StackImages(web_tag, *(SERVICES[name][0] for name in SERVICES), method=method)
    else:
        web_base, services_base = _ensure_bases(client, force=force, log=log)
        log(f"Building {web_tag} from platform/Dockerfile on {web_base}")
        _build_web(client, web_tag, base=web_base, force=force, log=log)
        services = [_ensure_service(client, name, services_base, force) for name in SERVICES]
        images = StackImages(web_tag, *services, method=method)
    log(f"Stack images ready in {time.monotonic() - started:.0f} s ({method})")
    return images


def _build_web(client: docker.DockerClient, tag: str, *, base: str, force: bool, log: Log) -> None:
    with builds.request_timeout(client.api, builds.BUILD_READ_TIMEOUT_SECONDS):
        stream = client.api.build(
            path=str(ROOT), dockerfile="platform/Dockerfile", tag=tag, rm=True, forcerm=True,
            nocache=force, decode=True, pull=False, buildargs={"PYTHON_IMAGE": base},
        )  # fmt: skip
        for chunk in stream:
            if "error" in chunk:
                raise ImageBuildError(f"docker build of {tag} failed: {chunk['error'].strip()}")
            if text := chunk.get("stream", "").rstrip():
                log(text)


# --- Offline bases -----------------------------------------------------------------------


def web_base_tag() -> str:
    packages = ",".join(WEB_PACKAGES + DEBIAN_PYTHON_EXTRAS).encode()
    return f"{WEB_BASE}:{_hash(b'web', packages, LOCK.read_bytes())}"


def services_base_tag() -> str:
    return f"{SERVICES_BASE}:{_hash(b'services', ','.join(SERVICES_PACKAGES).encode())}"


def service_tag(name: str) -> str:
    files = sorted(OFFLINE_DIR.glob(f"{name}*"))
    data = [path.name.encode() + b"\n" + path.read_bytes() for path in files]
    return f"{SERVICES[name][1]}:{_hash(services_base_tag().encode(), *data)}"


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256(f"stack recipe {RECIPE_VERSION}\n".encode())
    for part in parts:
        digest.update(f"{len(part)}\n".encode())
        digest.update(part)
    return digest.hexdigest()[:16]


def _ensure_bases(client: docker.DockerClient, *, force: bool, log: Log) -> tuple[str, str]:
    web, services = web_base_tag(), services_base_tag()
    wanted = [tag for tag in (web, services) if force or not builds.image_exists(client, tag)]
    if wanted:
        _bootstrap_bases(client, wanted, log)
    return web, services


def _bootstrap_bases(client: docker.DockerClient, wanted: list[str], log: Log) -> None:
    """Bootstraps the missing bases side by side: each mostly waits on the mirror."""
    tools = debian.offline_tools()
    mirror = debian.debian_mirror()
    workdir = Path(tempfile.mkdtemp(prefix="turnbox-stack-"))
    try:
        log(f"Bootstrapping Debian {debian.SUITE} from {mirror} for {', '.join(wanted)}")
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(_make_base, client, tools, mirror, workdir, tag) for tag in wanted]
            for job in jobs:
                job.result()
    finally:
        debian.remove_tree(workdir)


def _make_base(
    client: docker.DockerClient, tools: dict[str, str], mirror: str, workdir: Path, tag: str
) -> None:
    web = tag.startswith(f"{WEB_BASE}:")
    rootfs = workdir / ("web" if web else "services")
    packages = WEB_PACKAGES if web else SERVICES_PACKAGES
    command = [tools["debootstrap"], "--variant=minbase", f"--include={','.join(packages)}"]
    debian.run([*command, debian.SUITE, str(rootfs), mirror], what="debootstrap")
    if web:
        _install_wheels(tools["chroot"], rootfs, workdir / "wheels")
    else:
        # The package's own cluster: the image's entry point makes one in the volume.
        shutil.rmtree(rootfs / "var/lib/postgresql/15", ignore_errors=True)
        shutil.rmtree(rootfs / "etc/postgresql/15", ignore_errors=True)
    for folder in ("tmp", "var/cache/apt/archives", "var/lib/apt/lists"):
        debian.empty_folder(rootfs / folder)
    for folder in UNUSED_FOLDERS:
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    changes = WEB_CHANGES if web else SERVICES_CHANGES
    debian.import_rootfs(client, tools["tar"], rootfs, tag, changes)


def _install_wheels(chroot: str, rootfs: Path, wheels: Path) -> None:
    _download_wheels(wheels)
    shutil.move(wheels, rootfs / ROOT_WHEELS.lstrip("/"))
    debian.run_in_root(chroot, rootfs, "python3", "-m", "venv", VENV)
    pip = [f"{VENV}/bin/pip", "install", "--no-index", "--no-cache-dir"]
    pip += ["--disable-pip-version-check", "--find-links", ROOT_WHEELS]
    debian.run_in_root(
        chroot, rootfs, *pip, "--requirement", f"{ROOT_WHEELS}/requirements.lock",
        "--requirement", f"{ROOT_WHEELS}/extras.txt",
    )  # fmt: skip


def _download_wheels(wheels: Path) -> None:
    arch = os.uname().machine
    # Newest first: pip takes the most specific wheel a platform tag allows.
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", "any"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation"]
    command += ["cp", *(arg for p in platforms for arg in ("--platform", p))]
    command += ["--dest", str(wheels), "--requirement", str(LOCK), *DEBIAN_PYTHON_EXTRAS]
    debian.run(command, what="pip download")
    shutil.copy(LOCK, wheels / "requirements.lock")
    (wheels / "extras.txt").write_text("".join(f"{line}\n" for line in DEBIAN_PYTHON_EXTRAS))


# --- Offline services ----------------------------------------------------------------------


def _ensure_service(client: docker.DockerClient, name: str, base: str, force: bool) -> str:
    """A thin image on the services base: the files of platform/offline/ for ``name``."""
    tag = service_tag(name)
    if force or not builds.image_exists(client, tag):
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as archive:
            dockerfile = (OFFLINE_DIR / f"{name}.Dockerfile").read_text()
            builds.add_file(archive, "Dockerfile", f"FROM {base}\n{dockerfile}".encode())
            for path in sorted(OFFLINE_DIR.glob(f"{name}*")):
                builds.add_file(archive, path.name, path.read_bytes())
        context.seek(0)
        builds.build_on_base(client, base, tag, context=context, nocache=force)
    return tag
