"""The egress proxy's image: Squid, Python for its ACL helper, iptables, and the files of
platform/egress/ on top.

Built the way the sandbox image is (sandbox/image.py; the steps they share are in
sandbox/builds.py and sandbox/debian.py): from the Dockerfile where a registry is
reachable, else offline from the Debian mirror the host's apt uses, in two layers (the
packages, then the files, so that a change to squid.conf or the helper rebuilds in
seconds). Tags are hashes of the recipe.
"""

import hashlib
import io
import shutil
import tarfile
import tempfile
import time
from contextlib import closing
from pathlib import Path

import docker

from sandbox import builds, debian
from sandbox.builds import Log

RECIPE_VERSION = 1
REPOSITORY = "turnbox-egress"
BASE_REPOSITORY = "turnbox-egress-base"
SOURCE_DIR = Path(__file__).resolve().parents[2] / "platform" / "egress"
# The offline recipe's packages: the Dockerfile installs the same.
DEBIAN_PACKAGES = ("squid", "python3", "iptables")
DEBIAN_BASE_IMAGE = "debian:bookworm-slim"
APP_DIR = "/opt/turnbox-egress"
ERRORS_DIR = "/usr/share/squid-langpack/templates"
APP_FILES = ("squid.conf", "policy_helper.py", "entrypoint.sh", "refused-networks")
COMMAND = ["/bin/sh", f"{APP_DIR}/entrypoint.sh"]
# Nothing in the proxy reads them; they are a third of a minimal Debian.
UNUSED_FOLDERS = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")


def _sources() -> list[Path]:
    files = [SOURCE_DIR / "Dockerfile", *(SOURCE_DIR / name for name in APP_FILES)]
    return files + sorted((SOURCE_DIR / "errors").iterdir())


def image_tag() -> str:
    return f"{REPOSITORY}:{_hash(_sources())}"


def base_tag() -> str:
    return f"{BASE_REPOSITORY}:{_hash([SOURCE_DIR / 'Dockerfile'])}"


def _hash(paths: list[Path]) -> str:
    digest = hashlib.sha256(f"egress recipe {RECIPE_VERSION}\n".encode())
    for path in paths:
        data = path.read_bytes()
        name = path.relative_to(SOURCE_DIR).as_posix()
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def build_image(
    *,
    client: docker.DockerClient | None = None,
    method: str = "auto",
    force: bool = False,
    log: Log = print,
) -> str:
    """Builds image_tag() unless the engine has it already; returns the tag."""
    if method not in builds.METHODS:
        raise ValueError(f"method must be one of {', '.join(builds.METHODS)}, not {method!r}")
    if client is None:
        with closing(docker.from_env()) as own:
            return build_image(client=own, method=method, force=force, log=log)
    tag = image_tag()
    if not force and builds.image_exists(client, tag):
        return tag
    if method == "auto":
        reachable = builds.registry_reachable(client, DEBIAN_BASE_IMAGE)
        method = "dockerfile" if reachable else "offline"
    log(f"Building {tag} ({method})")
    started = time.monotonic()
    if method == "dockerfile":
        builds.build_from_dockerfile(client, SOURCE_DIR, tag, force=force, log=log)
    else:
        base = _ensure_base(client, force=force, log=log)
        builds.build_on_base(client, base, tag, context=_context(base), nocache=force)
    log(f"Built {tag} in {time.monotonic() - started:.0f} s")
    return tag


def remove_older_builds(*, client: docker.DockerClient, log: Log = print) -> None:
    """Drops the builds the current recipe replaces; one a proxy container still runs
    stays until that container is replaced."""
    builds.remove_older_builds(
        client, keep=(image_tag(), base_tag()), log=log, repositories=(REPOSITORY, BASE_REPOSITORY)
    )


def _ensure_base(client: docker.DockerClient, *, force: bool, log: Log) -> str:
    base = base_tag()
    if force or not builds.image_exists(client, base):
        log(f"Building the base {base} from Debian (about a minute)")
        _build_base(client, base)
    return base


def _build_base(client: docker.DockerClient, tag: str) -> None:
    tools = debian.offline_tools()
    workdir = Path(tempfile.mkdtemp(prefix="turnbox-egress-"))
    try:
        rootfs = workdir / "rootfs"
        include = ",".join(DEBIAN_PACKAGES)
        command = [tools["debootstrap"], "--variant=minbase", f"--include={include}"]
        command += [debian.SUITE, str(rootfs), debian.debian_mirror()]
        debian.run(command, what="debootstrap")
        for folder in ("tmp", "var/cache/apt/archives", "var/lib/apt/lists"):
            debian.empty_folder(rootfs / folder)
        for folder in UNUSED_FOLDERS:
            shutil.rmtree(rootfs / folder, ignore_errors=True)
        debian.import_rootfs(client, tools["tar"], rootfs, tag, changes=())
    finally:
        debian.remove_tree(workdir)


def _context(base: str) -> io.BytesIO:
    """The files on top of the base, laid out as the Dockerfile lays them out."""
    lines = [f"FROM {base}", f"COPY app/ {APP_DIR}/", f"COPY errors/ {ERRORS_DIR}/"]
    lines.append(f"CMD {COMMAND!r}".replace("'", '"'))
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        builds.add_file(archive, "Dockerfile", ("\n".join(lines) + "\n").encode())
        for name in APP_FILES:
            builds.add_file(archive, f"app/{name}", (SOURCE_DIR / name).read_bytes())
        for path in sorted((SOURCE_DIR / "errors").iterdir()):
            builds.add_file(archive, f"errors/{path.name}", path.read_bytes())
    context.seek(0)
    return context
