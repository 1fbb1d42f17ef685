"""Offline image builds from Debian, for air-gapped hosts: a root file system bootstrapped
from the mirror the host's apt already uses, worked on in a chroot, then imported into the
Docker engine as an image."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker

from sandbox.builds import ImageBuildError

# The offline images are Debian bookworm, like the Dockerfiles' bases.
SUITE = "bookworm"
# Whatever the host's environment says, commands inside the new root see only this.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


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


def offline_tools() -> dict[str, str]:
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


def import_rootfs(
    client: docker.DockerClient,
    tar: str,
    rootfs: Path,
    tag: str,
    changes: tuple[str, ...],
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


def run_in_root(chroot: str, rootfs: Path, *command: str) -> None:
    run([chroot, str(rootfs), *command], what=" ".join(command[:3]), env=CHROOT_ENV)


def run(command: list[str], *, what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, errors="replace", env=env, check=False
    )
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n{tail}")


def empty_folder(folder: Path) -> None:
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def remove_tree(workdir: Path) -> None:
    # debootstrap mounts /proc and /sys inside the new root and can leave them mounted when
    # it fails; deleting through a mount point would reach the host's own files.
    prefix = f"{workdir}/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)  # noqa: S603, S607
    shutil.rmtree(workdir, ignore_errors=True)
