"""The sandbox image: its tag, and how it is built.

The tag is a hash of what goes into the image, so a changed bridge or package pin makes a
new image while containers of the old one finish undisturbed. Two recipes give the same
layout (described at the top of platform/sandbox/Dockerfile): the Dockerfile, where a
registry is reachable, and an offline recipe for air-gapped hosts, which bootstraps
Debian from the mirror the host's apt already uses and installs wheels downloaded on the
host (pip honours the host's own configuration, proxies and CA bundle included).
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import docker
import requests
from django.conf import settings

# Bump when the offline recipe below changes what ends up in the image.
RECIPE_VERSION = 2
REPOSITORY = "turnbox-sandbox"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "platform" / "sandbox"
SOURCE_FILES = ("Dockerfile", "requirements.txt", "bridge.py")
METHODS = ("auto", "dockerfile", "offline")

# The offline image is Debian bookworm, like the Dockerfile's base, with its python3 3.11.
SUITE = "bookworm"
PYTHON_VERSION = "3.11"
# bookworm's glibc is 2.36: manylinux wheels up to that run on it.
GLIBC_MINOR = 36
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini", "procps")
# ipykernel imports its debugger at start when debugpy is there; sandboxes never debug,
# and every turn waits for a kernel to start.
UNUSED_PACKAGES = ("debugpy",)
IMAGE_CHANGES = (
    "ENV PATH=/opt/python/bin:/usr/local/bin:/usr/bin:/bin",
    "ENV HOME=/tmp",
    "ENV MPLCONFIGDIR=/tmp/matplotlib",
    "USER 1000:1000",
    "WORKDIR /workspace",
    'CMD ["/usr/bin/tini", "--", "/opt/python/bin/python", "/opt/turnbox/bridge.py"]',
)
# Paths inside the new root, not on the host: /tmp is the sandbox user's home there.
ROOT_WHEELS = "/tmp/wheels"  # noqa: S108
SANDBOX_HOME = "/tmp"  # noqa: S108
# Whatever the host's environment says, commands inside the new root see only this.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
# Air-gapped engines answer at once (no DNS); this bounds a firewall that drops packets.
REGISTRY_PROBE_SECONDS = 15
# A build step (pip install, compileall) may print nothing for minutes.
BUILD_READ_TIMEOUT_SECONDS = 1800

Log = Callable[[str], None]


class ImageBuildError(Exception):
    """The image could not be built; the message says why and what to do about it."""


def image_tag() -> str:
    digest = hashlib.sha256(f"recipe {RECIPE_VERSION}\n".encode())
    for name in SOURCE_FILES:
        data = (SOURCE_DIR / name).read_bytes()
        # Name and length first, so that no two sets of contents hash alike.
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return f"{REPOSITORY}:{digest.hexdigest()[:16]}"


def configured_image() -> str:
    return settings.TURNBOX_SANDBOX_IMAGE or image_tag()


def image_exists(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(
    *,
    client: docker.DockerClient | None = None,
    method: str = "auto",
    force: bool = False,
    log: Log = print,
) -> str:
    """Builds image_tag() unless the engine has it already; returns the tag."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if client is None:
        with closing(docker.from_env()) as own:
            return build_image(client=own, method=method, force=force, log=log)
    tag = image_tag()
    if not force and image_exists(client, tag):
        return tag
    if method == "auto":
        method = "dockerfile" if registry_reachable(client) else "offline"
    log(f"Building {tag} ({method})")
    started = time.monotonic()
    if method == "dockerfile":
        _build_from_dockerfile(client, tag, log)
    else:
        _build_offline(client, tag, log)
    log(f"Built {tag} in {time.monotonic() - started:.0f} s")
    _remove_older_builds(client, keep=tag, log=log)
    return tag


def _remove_older_builds(client: docker.DockerClient, *, keep: str, log: Log) -> None:
    """Each recipe change makes a new gigabyte image: drop the builds it replaces."""
    for image in client.images.list(name=REPOSITORY):
        for tag in image.tags:
            name = tag.rpartition(":")[2]
            if tag != keep and len(name) == 16 and all(c in "0123456789abcdef" for c in name):
                try:
                    client.images.remove(tag)
                    log(f"Removed the older build {tag}")
                except docker.errors.APIError:
                    pass  # still used by a container; the next build tries again


# --- Dockerfile -------------------------------------------------------------------------


def base_image() -> str:
    text = (SOURCE_DIR / "Dockerfile").read_text()
    match = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    if not match:
        raise ImageBuildError("platform/sandbox/Dockerfile has no FROM line.")
    return match.group(1)


def registry_reachable(client: docker.DockerClient) -> bool:
    """Whether the engine can pull the Dockerfile's base image. Asks the registry for the
    image's manifest only: the build pulls the layers if the answer is yes."""
    try:
        with _request_timeout(client.api, REGISTRY_PROBE_SECONDS):
            client.api.inspect_distribution(base_image())
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return False
    return True


@contextmanager
def _request_timeout(api: docker.APIClient, seconds: float) -> Iterator[None]:
    saved, api.timeout = api.timeout, seconds
    try:
        yield
    finally:
        api.timeout = saved


def _build_from_dockerfile(client: docker.DockerClient, tag: str, log: Log) -> None:
    with _request_timeout(client.api, BUILD_READ_TIMEOUT_SECONDS):
        for chunk in client.api.build(
            path=str(SOURCE_DIR), tag=tag, rm=True, forcerm=True, decode=True
        ):
            if "error" in chunk:
                raise ImageBuildError(f"docker build failed: {chunk['error'].strip()}")
            if text := chunk.get("stream", "").rstrip():
                log(text)


# --- Offline, from Debian ----------------------------------------------------------------


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The URI the host's apt fetches SUITE from: the offline image comes from the same
    place, whatever mirror or proxy this host is set up with."""
    for uri, suites in _apt_sources(apt_dir):
        if SUITE in suites and uri.split(":", 1)[0] in ("http", "https", "ftp", "file"):
            return uri.rstrip("/")
    raise ImageBuildError(
        f"No Debian {SUITE} source in the host's apt configuration ({apt_dir}/sources.list, "
        f"{apt_dir}/sources.list.d/): the offline build bootstraps {SUITE} from the mirror apt "
        "uses. On other systems, build where a registry is reachable (--method dockerfile)."
    )


def _apt_sources(apt_dir: Path) -> Iterator[tuple[str, list[str]]]:
    for path in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            yield from _one_line_sources(path.read_text())
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        yield from _deb822_sources(path.read_text())


def _one_line_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], [words[2]]


def _deb822_sources(text: str) -> Iterator[tuple[str, list[str]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            # Comments, and continuation lines (an inline Signed-By key) name no source.
            if line.startswith("#") or line[:1].isspace() or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and fields.get("enabled") != ["no"]:
            for uri in fields.get("uris", []):
                yield uri, fields.get("suites", [])


def _build_offline(client: docker.DockerClient, tag: str, log: Log) -> None:
    tools = _offline_tools()
    mirror = debian_mirror()
    workdir = Path(tempfile.mkdtemp(prefix="turnbox-sandbox-"))
    try:
        rootfs, wheels = workdir / "rootfs", workdir / "wheels"
        log(f"Bootstrapping Debian {SUITE} from {mirror} and downloading wheels (a minute or two)")
        # Independent and each mostly waiting on the network: run side by side.
        with ThreadPoolExecutor(1) as pool:
            download = pool.submit(_download_wheels, wheels)
            _run([tools["debootstrap"], *_debootstrap_args(rootfs, mirror)], what="debootstrap")
            download.result()
        log("Installing the Python packages and compiling byte code")
        _install_python(tools["chroot"], rootfs, wheels)
        _finish_rootfs(tools["chroot"], rootfs)
        log("Importing the root file system into Docker")
        _import_rootfs(client, tools["tar"], rootfs, tag)
    finally:
        _remove_tree(workdir)


def _offline_tools() -> dict[str, str]:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "The offline build needs root (debootstrap and chroot). Run it as root, or build "
            "where a registry is reachable with --method dockerfile."
        )
    tools = {name: shutil.which(name) for name in ("debootstrap", "chroot", "tar")}
    if missing := [name for name, path in tools.items() if not path]:
        raise ImageBuildError(
            f"The offline build needs {', '.join(missing)}: install it "
            "(Debian: apt-get install debootstrap; scripts/docker.sh does it when run as root)."
        )
    return tools


def _debootstrap_args(rootfs: Path, mirror: str) -> list[str]:
    include = ",".join(DEBIAN_PACKAGES)
    return ["--variant=minbase", f"--include={include}", SUITE, str(rootfs), mirror]


def _download_wheels(wheels: Path) -> None:
    arch = os.uname().machine
    # Newest first: pip takes the most specific wheel a platform tag allows.
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    platforms += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", "any"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation"]
    command += ["cp", *(arg for p in platforms for arg in ("--platform", p))]
    command += ["--dest", str(wheels), "--requirement", str(SOURCE_DIR / "requirements.txt")]
    _run(command, what="pip download")
    shutil.copy(SOURCE_DIR / "requirements.txt", wheels / "requirements.txt")


def _install_python(chroot: str, rootfs: Path, wheels: Path) -> None:
    shutil.move(wheels, rootfs / ROOT_WHEELS.lstrip("/"))
    _chroot(chroot, rootfs, "python3", "-m", "venv", "/opt/python")
    pip = ["/opt/python/bin/pip", "install", "--no-index", "--no-compile", "--no-cache-dir"]
    pip += ["--disable-pip-version-check", "--find-links", ROOT_WHEELS]
    _chroot(chroot, rootfs, *pip, "--requirement", f"{ROOT_WHEELS}/requirements.txt")
    _chroot(chroot, rootfs, "/opt/python/bin/pip", "uninstall", "--yes", *UNUSED_PACKAGES)
    _chroot(
        chroot, rootfs, "/opt/python/bin/python", "-m", "compileall", "-q", "-j", "0",
        "/opt/python/lib", f"/usr/lib/python{PYTHON_VERSION}",
    )  # fmt: skip


def _finish_rootfs(chroot: str, rootfs: Path) -> None:
    for folder in ("tmp", "var/cache/apt/archives", "var/lib/apt/lists"):
        _empty_folder(rootfs / folder)
    for folder in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    _chroot(
        chroot, rootfs, "useradd", "--uid", "1000", "--user-group", "--home-dir", SANDBOX_HOME,
        "--no-create-home", "--shell", "/bin/bash", "sandbox",
    )  # fmt: skip
    (rootfs / "workspace").mkdir()
    os.chown(rootfs / "workspace", 1000, 1000)
    (rootfs / "opt" / "turnbox").mkdir(parents=True)
    shutil.copy(SOURCE_DIR / "bridge.py", rootfs / "opt" / "turnbox" / "bridge.py")


def _import_rootfs(client: docker.DockerClient, tar: str, rootfs: Path, tag: str) -> None:
    repository, _, name = tag.rpartition(":")
    # Streamed from tar straight into the engine: the root file system is about a gigabyte.
    archive = subprocess.Popen(  # noqa: S603
        [tar, "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        chunks = iter(lambda: archive.stdout.read(1 << 20), b"")
        answer = client.api.import_image_from_stream(
            chunks, repository=repository, tag=name, changes=list(IMAGE_CHANGES)
        )
    finally:
        archive.stdout.close()
        status = archive.wait()
    if status or '"error' in answer:
        raise ImageBuildError(f"docker import failed (tar exit {status}): {answer.strip()}")


def _chroot(chroot: str, rootfs: Path, *command: str) -> None:
    _run([chroot, str(rootfs), *command], what=" ".join(command[:3]), env=CHROOT_ENV)


def _run(command: list[str], *, what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, errors="replace", env=env, check=False
    )
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _empty_folder(folder: Path) -> None:
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _remove_tree(workdir: Path) -> None:
    # debootstrap mounts /proc and /sys inside the new root and can leave them mounted when
    # it fails; deleting through a mount point would reach the host's own files.
    prefix = f"{workdir}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)  # noqa: S603, S607
    shutil.rmtree(workdir, ignore_errors=True)
