"""The sandbox image: its tag, and how it is built.

The tag is a hash of what goes into the image, so a changed bridge or package pin makes a
new image while containers of the old one finish undisturbed. Two recipes give the same
layout (described at the top of platform/sandbox/Dockerfile): the Dockerfile, where a
registry is reachable, and an offline recipe for air-gapped hosts, which bootstraps
Debian from the mirror the host's apt already uses and installs wheels downloaded on the
host (pip honours the host's own configuration, proxies and CA bundle included).

The offline recipe builds in two layers. The bootstrap and the packages make a base image,
tagged by a hash of everything but the bridge and reused for as long as that holds; the
bridge, which changes far more often than the packages, is copied on top in seconds. The
Dockerfile needs no such split: its last step copies the bridge, so Docker's layer cache
already rebuilds only that. The steps the egress proxy's image shares are in
sandbox/builds.py (any build) and sandbox/debian.py (the offline bootstrap).
"""

import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import docker
from django.conf import settings

from sandbox import debian
from sandbox.builds import (
    METHODS,
    ImageBuildError,
    Log,
    add_file,
    build_from_dockerfile,
    build_on_base,
    image_exists,
    registry_reachable,
    remove_older_builds,
    remove_quietly,
)

# Bump when the offline recipe below changes what ends up in the image.
RECIPE_VERSION = 3
REPOSITORY = "turnbox-sandbox"
BASE_REPOSITORY = "turnbox-sandbox-base"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "platform" / "sandbox"
SOURCE_FILES = ("Dockerfile", "requirements.txt", "bridge.py")
BASE_FILES = ("Dockerfile", "requirements.txt")
# Where the offline recipe's top layer puts the bridge; the Dockerfile names the same path.
BRIDGE_PATH = "/opt/turnbox/bridge.py"

# The offline image's Debian (debian.SUITE) has its python3 3.11.
PYTHON_VERSION = "3.11"
# bookworm's glibc is 2.36: manylinux wheels up to that run on it.
GLIBC_MINOR = 36
# curl and wget: code and models fetch data with them (through the egress proxy).
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini", "procps", "curl", "wget")
# ipykernel imports its debugger at start when debugpy is there; sandboxes never debug,
# and every turn waits for a kernel to start.
UNUSED_PACKAGES = ("debugpy",)
IMAGE_CHANGES = (
    "ENV PATH=/opt/python/bin:/usr/local/bin:/usr/bin:/bin",
    "ENV HOME=/tmp",
    "ENV MPLCONFIGDIR=/tmp/matplotlib",
    "USER 1000:1000",
    "WORKDIR /workspace",
    f'CMD ["/usr/bin/tini", "--", "/opt/python/bin/python", "{BRIDGE_PATH}"]',
)
# Paths inside the new root, not on the host: /tmp is the sandbox user's home there.
ROOT_WHEELS = "/tmp/wheels"  # noqa: S108
SANDBOX_HOME = "/tmp"  # noqa: S108


def image_tag() -> str:
    """The image sandboxes run: a hash of everything in it, the bridge included."""
    return f"{REPOSITORY}:{_source_hash(SOURCE_FILES)}"


def base_tag() -> str:
    """The offline build's lower layer: everything but the bridge."""
    return f"{BASE_REPOSITORY}:{_source_hash(BASE_FILES)}"


def _source_hash(names: tuple[str, ...]) -> str:
    digest = hashlib.sha256(f"recipe {RECIPE_VERSION}\n".encode())
    for name in names:
        data = (SOURCE_DIR / name).read_bytes()
        # Name and length first, so that no two sets of contents hash alike.
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def configured_image() -> str:
    return settings.TURNBOX_SANDBOX_IMAGE or image_tag()


def build_image(
    *,
    client: docker.DockerClient | None = None,
    method: str = "auto",
    force: bool = False,
    log: Log = print,
) -> str:
    """Builds image_tag() unless the engine has it already; returns the tag. With force,
    builds every layer again, the offline recipe's base included."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if client is None:
        with closing(docker.from_env()) as own:
            return build_image(client=own, method=method, force=force, log=log)
    tag, base = image_tag(), base_tag()
    if not force and image_exists(client, tag):
        return tag
    if method == "auto":
        method = "dockerfile" if registry_reachable(client, base_image()) else "offline"
    # A forced build moves the tags onto new images: the old ones would linger untagged.
    replaced = _image_ids(client, tag, base) if force else []
    log(f"Building {tag} ({method})")
    started = time.monotonic()
    if method == "dockerfile":
        build_from_dockerfile(client, SOURCE_DIR, tag, force=force, log=log)
    else:
        _build_offline(client, tag, force=force, log=log)
    log(f"Built {tag} in {time.monotonic() - started:.0f} s")
    # The current base stays even after a Dockerfile build: it is the offline recipe's
    # gigabyte, and the next offline build of these packages needs it.
    remove_older_builds(
        client, keep=(tag, base), log=log, repositories=(REPOSITORY, BASE_REPOSITORY)
    )
    _remove_replaced(client, replaced, log=log)
    return tag


def _image_ids(client: docker.DockerClient, *tags: str) -> list[str]:
    return [client.images.get(tag).id for tag in tags if image_exists(client, tag)]


def _remove_replaced(client: docker.DockerClient, image_ids: list[str], *, log: Log) -> None:
    for image_id in image_ids:
        try:
            if client.images.get(image_id).tags:
                continue  # rebuilt to the same image, or someone tagged it for their own use
        except docker.errors.ImageNotFound:
            continue  # went with the image built on it
        if remove_quietly(client, image_id):
            log(f"Removed the replaced image {image_id.removeprefix('sha256:')[:12]}")


# --- Dockerfile -------------------------------------------------------------------------


def base_image() -> str:
    text = (SOURCE_DIR / "Dockerfile").read_text()
    match = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    if not match:
        raise ImageBuildError("platform/sandbox/Dockerfile has no FROM line.")
    return match.group(1)


# --- Offline, from Debian ----------------------------------------------------------------


def _build_offline(client: docker.DockerClient, tag: str, *, force: bool, log: Log) -> None:
    base = ensure_base(client, force=force, log=log)
    log(f"Copying bridge.py onto {base}")
    build_on_base(client, base, tag, context=_bridge_context(base), nocache=force)


def ensure_base(client: docker.DockerClient, *, force: bool = False, log: Log = print) -> str:
    """Builds base_tag() from Debian unless the engine has it already; returns the tag."""
    base = base_tag()
    if force or not image_exists(client, base):
        log(f"Building the base {base}")
        _build_base(client, base, log)
    else:
        log(f"Reusing the base {base}")
    return base


def _bridge_context(base: str) -> io.BytesIO:
    """A build context of a two-line Dockerfile and the bridge it copies onto the base."""
    dockerfile = f"FROM {base}\nCOPY bridge.py {BRIDGE_PATH}\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        add_file(archive, "Dockerfile", dockerfile)
        add_file(archive, "bridge.py", (SOURCE_DIR / "bridge.py").read_bytes())
    context.seek(0)
    return context


def _build_base(client: docker.DockerClient, tag: str, log: Log) -> None:
    tools = debian.offline_tools()
    mirror = debian.debian_mirror()
    workdir = Path(tempfile.mkdtemp(prefix="turnbox-sandbox-"))
    try:
        rootfs, wheels = workdir / "rootfs", workdir / "wheels"
        suite = debian.SUITE
        log(f"Bootstrapping Debian {suite} from {mirror} and downloading wheels (a minute or two)")
        # Independent and each mostly waiting on the network: run side by side.
        with ThreadPoolExecutor(1) as pool:
            download = pool.submit(_download_wheels, wheels)
            debian.run(
                [tools["debootstrap"], *_debootstrap_args(rootfs, mirror)], what="debootstrap"
            )
            download.result()
        log("Installing the Python packages and compiling byte code")
        _install_python(tools["chroot"], rootfs, wheels)
        _finish_rootfs(tools["chroot"], rootfs)
        log("Importing the root file system into Docker")
        debian.import_rootfs(client, tools["tar"], rootfs, tag, IMAGE_CHANGES)
    finally:
        debian.remove_tree(workdir)


def _debootstrap_args(rootfs: Path, mirror: str) -> list[str]:
    include = ",".join(DEBIAN_PACKAGES)
    return ["--variant=minbase", f"--include={include}", debian.SUITE, str(rootfs), mirror]


def _download_wheels(wheels: Path) -> None:
    arch = os.uname().machine
    # Newest first: pip takes the most specific wheel a platform tag allows.
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", "any"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation"]
    command += ["cp", *(arg for p in platforms for arg in ("--platform", p))]
    command += ["--dest", str(wheels), "--requirement", str(SOURCE_DIR / "requirements.txt")]
    debian.run(command, what="pip download")
    shutil.copy(SOURCE_DIR / "requirements.txt", wheels / "requirements.txt")


def _install_python(chroot: str, rootfs: Path, wheels: Path) -> None:
    shutil.move(wheels, rootfs / ROOT_WHEELS.lstrip("/"))
    debian.run_in_root(chroot, rootfs, "python3", "-m", "venv", "/opt/python")
    pip = ["/opt/python/bin/pip", "install", "--no-index", "--no-compile", "--no-cache-dir"]
    pip += ["--disable-pip-version-check", "--find-links", ROOT_WHEELS]
    debian.run_in_root(chroot, rootfs, *pip, "--requirement", f"{ROOT_WHEELS}/requirements.txt")
    debian.run_in_root(
        chroot, rootfs, "/opt/python/bin/pip", "uninstall", "--yes", *UNUSED_PACKAGES
    )
    debian.run_in_root(
        chroot, rootfs, "/opt/python/bin/python", "-m", "compileall", "-q", "-j", "0",
        "/opt/python/lib", f"/usr/lib/python{PYTHON_VERSION}",
    )  # fmt: skip


def _finish_rootfs(chroot: str, rootfs: Path) -> None:
    for folder in ("tmp", "var/cache/apt/archives", "var/lib/apt/lists"):
        debian.empty_folder(rootfs / folder)
    for folder in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    debian.run_in_root(
        chroot, rootfs, "useradd", "--uid", "1000", "--user-group", "--home-dir", SANDBOX_HOME,
        "--no-create-home", "--shell", "/bin/bash", "sandbox",
    )  # fmt: skip
    (rootfs / "workspace").mkdir()
    os.chown(rootfs / "workspace", 1000, 1000)
