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
already rebuilds only that.
"""

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
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
RECIPE_VERSION = 3
REPOSITORY = "turnbox-sandbox"
BASE_REPOSITORY = "turnbox-sandbox-base"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "platform" / "sandbox"
SOURCE_FILES = ("Dockerfile", "requirements.txt", "bridge.py")
BASE_FILES = ("Dockerfile", "requirements.txt")
# Where the offline recipe's top layer puts the bridge; the Dockerfile names the same path.
BRIDGE_PATH = "/opt/turnbox/bridge.py"
METHODS = ("auto", "dockerfile", "offline")

# The offline image is Debian bookworm, like the Dockerfile's base, with its python3 3.11.
SUITE = "bookworm"
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
        method = "dockerfile" if registry_reachable(client) else "offline"
    # A forced build moves the tags onto new images: the old ones would linger untagged.
    replaced = _image_ids(client, tag, base) if force else []
    log(f"Building {tag} ({method})")
    started = time.monotonic()
    if method == "dockerfile":
        _build_from_dockerfile(client, tag, force=force, log=log)
    else:
        _build_offline(client, tag, force=force, log=log)
    log(f"Built {tag} in {time.monotonic() - started:.0f} s")
    # The current base stays even after a Dockerfile build: it is the offline recipe's
    # gigabyte, and the next offline build of these packages needs it.
    _remove_older_builds(client, keep=(tag, base), log=log)
    _remove_replaced(client, replaced, log=log)
    return tag


def _remove_older_builds(
    client: docker.DockerClient,
    *,
    keep: tuple[str, ...],
    log: Log,
    repositories: tuple[str, ...] | None = None,
) -> None:
    """Each recipe change makes a new gigabyte image: drop the builds it replaces. Builds are
    the tags that are hashes; others (dev, proto) are people's own and stay. Final images go
    first, so that an older base has no child left when its own turn comes. The sandbox's
    repositories unless others are named (read at call time: tests move them)."""
    for repository in repositories or (REPOSITORY, BASE_REPOSITORY):
        for tag in _build_tags(client, repository):
            if tag not in keep and _remove_quietly(client, tag):
                log(f"Removed the older build {tag}")


def _build_tags(client: docker.DockerClient, repository: str) -> list[str]:
    build = re.compile(rf"{re.escape(repository)}:[0-9a-f]{{16}}")
    images = client.images.list(name=repository)
    return [tag for image in images for tag in image.tags if build.fullmatch(tag)]


def _image_ids(client: docker.DockerClient, *tags: str) -> list[str]:
    return [client.images.get(tag).id for tag in tags if image_exists(client, tag)]


def _remove_replaced(client: docker.DockerClient, image_ids: list[str], *, log: Log) -> None:
    for image_id in image_ids:
        try:
            if client.images.get(image_id).tags:
                continue  # rebuilt to the same image, or someone tagged it for their own use
        except docker.errors.ImageNotFound:
            continue  # went with the image built on it
        if _remove_quietly(client, image_id):
            log(f"Removed the replaced image {image_id.removeprefix('sha256:')[:12]}")


def _remove_quietly(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.remove(image)
    except docker.errors.APIError:
        return False  # a container still uses it: the next build tries again
    return True


# --- Dockerfile -------------------------------------------------------------------------


def base_image() -> str:
    text = (SOURCE_DIR / "Dockerfile").read_text()
    match = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    if not match:
        raise ImageBuildError("platform/sandbox/Dockerfile has no FROM line.")
    return match.group(1)


def registry_reachable(client: docker.DockerClient, image: str | None = None) -> bool:
    """Whether the engine can pull a Dockerfile's base image (by default the sandbox's).
    Asks the registry for the image's manifest only: the build pulls the layers if the
    answer is yes."""
    try:
        with _request_timeout(client.api, REGISTRY_PROBE_SECONDS):
            client.api.inspect_distribution(image or base_image())
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


def _build_from_dockerfile(client: docker.DockerClient, tag: str, *, force: bool, log: Log) -> None:
    with _request_timeout(client.api, BUILD_READ_TIMEOUT_SECONDS):
        for chunk in client.api.build(
            path=str(SOURCE_DIR), tag=tag, rm=True, forcerm=True, nocache=force, decode=True
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


def build_on_base(
    client: docker.DockerClient, base: str, tag: str, *, context: io.BytesIO, nocache: bool
) -> None:
    """Builds ``tag`` from a tar build context whose Dockerfile starts FROM ``base``."""
    # The base is local and no registry need be reachable: never pull it.
    try:
        with _request_timeout(client.api, BUILD_READ_TIMEOUT_SECONDS):
            client.images.build(
                fileobj=context, custom_context=True, tag=tag, pull=False,
                nocache=nocache, rm=True, forcerm=True,
            )  # fmt: skip
    except docker.errors.BuildError as error:
        raise ImageBuildError(f"docker build on {base} failed: {error.msg}") from None


def _bridge_context(base: str) -> io.BytesIO:
    """A build context of a two-line Dockerfile and the bridge it copies onto the base."""
    dockerfile = f"FROM {base}\nCOPY bridge.py {BRIDGE_PATH}\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        _add_file(archive, "Dockerfile", dockerfile)
        _add_file(archive, "bridge.py", (SOURCE_DIR / "bridge.py").read_bytes())
    context.seek(0)
    return context


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    # COPY keeps the mode: readable by the sandbox user whatever the checkout's umask was.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _build_base(client: docker.DockerClient, tag: str, log: Log) -> None:
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


def _import_rootfs(
    client: docker.DockerClient,
    tar: str,
    rootfs: Path,
    tag: str,
    changes: tuple[str, ...] = IMAGE_CHANGES,
) -> None:
    repository, _, name = tag.rpartition(":")
    # Streamed from tar straight into the engine: the root file system is about a gigabyte.
    archive = subprocess.Popen(  # noqa: S603
        [tar, "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        chunks = iter(lambda: archive.stdout.read(1 << 20), b"")
        answer = client.api.import_image_from_stream(
            chunks, repository=repository, tag=name, changes=list(changes)
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
