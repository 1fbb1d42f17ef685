"""Files in and out of a sandbox's /workspace, through Docker's archive API.

The code in the sandbox is hostile and may change /workspace at any moment: plant
symbolic links, FIFOs, swap a folder for a link. Docker reads and writes archives as
root, chrooted into the container's root file system as the daemon sees it: without
the container's own tmpfs mounts, and past its read-only flag. A file copied in as
``data/x.csv`` while ``data`` links to ``/etc`` lands in the container's writable layer
(``/etc/x.csv``); a file copied out through such a link is read with root's rights.

So every folder on the way is looked at first (the archive stat header says whether a
path is a link), and a copy-in also sends each folder as a directory member with
``noOverwriteDirNonDir``: should a folder have become a link since it was looked at,
Docker itself refuses to go on. What is left, the moment between Docker handling a
folder and the file in it, is also bounded by the caller's file-type check (the
Drive's allowlist, for every caller today), which each copy must be given.

Refusals raise ``TransferError``, worded for the person or model that asked. Where the
files come from or go to (Drive) is the caller's business: this module knows none.
"""

import io
import posixpath
import tarfile
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from sandbox import services
from sandbox.archive import (
    CHUNK_BYTES,
    STAT_HEADER,
    BoundedReader,
    PathStat,
    TransferError,
    archive_put,
    archive_url,
    path_stat,
    tar_chunks,
    tar_member,
)
from sandbox.containers import WORKDIR
from sandbox.models import Execution
from sandbox.session import Session, SessionError
from workspaces.models import Workspace

# Sources that cannot seek are copied first (to be measured); small ones stay in memory.
SPOOL_MEMORY_BYTES = 5 * 1024 * 1024
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
# Room for the tar headers around one file: its header, extended (PAX) headers for a long
# name or attributes, padding and the two closing blocks.
TAR_OVERHEAD_BYTES = 64 * 1024
# How much of the content a type check is given (enough for Drive's sniffing).
SNIFF_BYTES = 8192
MB = 1024 * 1024

# Called with a file's name and the start of its content (b"" before it is read); a
# ValueError it raises refuses the copy, its message shown after the path.
TypeCheck = Callable[[str, bytes], object]


# --- Paths -------------------------------------------------------------------------------


def sandbox_path_of(path: str) -> str:
    """The absolute, normalised path of a file in /workspace; refuses every other path."""
    if not isinstance(path, str) or not path.strip():
        raise TransferError(f"the sandbox path is empty; name a file, such as {WORKDIR}/data.csv.")
    _check_characters(path)
    relative = path
    if path.startswith("/"):
        if path != WORKDIR and not path.startswith(f"{WORKDIR}/"):
            raise TransferError(f"{path} is outside {WORKDIR}; files move only in and out of it.")
        relative = path[len(WORKDIR) :]
    segments = [segment for segment in relative.split("/") if segment not in ("", ".")]
    if ".." in segments:
        raise TransferError(f"“..” is not allowed in a sandbox path ({path}).")
    if not segments or path.endswith("/"):
        raise TransferError(f"{path} names a folder; name a file in {WORKDIR}.")
    absolute = f"{WORKDIR}/{'/'.join(segments)}"
    if len(absolute.encode()) > MAX_PATH_BYTES:
        raise TransferError(f"the sandbox path is longer than {MAX_PATH_BYTES} bytes.")
    if any(len(segment.encode()) > MAX_NAME_BYTES for segment in segments):
        raise TransferError(f"a name in {absolute} is longer than {MAX_NAME_BYTES} bytes.")
    return absolute


def _check_characters(path: str) -> None:
    if "\x00" in path:
        raise TransferError("the sandbox path contains a NUL character.")
    for char in path:
        if unicodedata.category(char) == "Cc":
            raise TransferError(
                f"the sandbox path contains a control character (U+{ord(char):04X})."
            )
    try:
        path.encode()
    except UnicodeEncodeError:
        raise TransferError("the sandbox path is not valid Unicode text.") from None


def _folders(path: str) -> list[str]:
    """The folders between /workspace and a file, outermost first."""
    segments = path[len(WORKDIR) + 1 :].split("/")[:-1]
    return [f"{WORKDIR}/{'/'.join(segments[: i + 1])}" for i in range(len(segments))]


def _printable(text: str, limit: int = 200) -> str:
    # Link targets come from the sandbox and are shown to people: keep them tame.
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= limit else text[:limit] + "…"


def _checked_folders(container, path: str) -> list[PathStat | None]:
    """The stat of each folder on the way (None once missing); refuses links and files."""
    stats: list[PathStat | None] = []
    for folder in _folders(path):
        stat = path_stat(container, folder) if (not stats or stats[-1]) else None
        if stat is not None and stat.is_symlink:
            target = _printable(stat.link_target)
            raise TransferError(
                f"{folder} is a symbolic link (to {target}); files are copied only through "
                "real folders."
            )
        if stat is not None and not stat.is_dir:
            raise TransferError(f"{folder} is a file, not a folder.")
        stats.append(stat)
    return stats


# --- The caller's rules ------------------------------------------------------------------


def _check_type(check: TypeCheck, path: str, name: str, head: bytes) -> None:
    try:
        check(name, head)
    except ValueError as error:
        raise TransferError(f"{path}: {error}") from error


def _check_size(path: str, size: int, limit: int) -> None:
    if size > limit:
        raise TransferError(f"{path} is {human_size(size)}; the limit is {human_size(limit)}.")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < MB:
        return f"{size / 1024:.3g} KB"
    return f"{size / MB:.3g} MB"


# --- Copy in -----------------------------------------------------------------------------


def copy_in(
    container,
    *,
    sandbox_path: str,
    data: bytes | IO[bytes],
    size: int,
    limit: int,
    check: TypeCheck,
) -> str:
    """Writes one file of at most ``limit`` bytes into /workspace, making its folders;
    returns its absolute path. ``check`` refuses file types (see ``TypeCheck``)."""
    path = sandbox_path_of(sandbox_path)
    name = posixpath.basename(path)
    _check_type(check, path, name, b"")
    _check_size(path, size, limit)
    with _exactly(data, size, path) as reader:
        head = reader.read(min(size, SNIFF_BYTES))
        _check_type(check, path, name, head)
        folders = _checked_folders(container, path)
        target = path_stat(container, path) if all(folders) else None
        if target is not None and target.is_dir:
            raise TransferError(f"{path} is a folder in the sandbox; choose a file path.")
        members = [*_folder_members(path, folders), tar_member(path, size=size)]
        archive_put(container, path, tar_chunks(members, head, reader, size))
    return path


@contextmanager
def _exactly(data: bytes | IO[bytes], size: int, path: str) -> Iterator[IO[bytes]]:
    """The content from its start, once known to hold ``size`` bytes: an archive cut
    short leaves a partial file behind, owned by root (Docker sets the owner last)."""
    if isinstance(data, bytes | bytearray | memoryview):
        data = io.BytesIO(data)
    try:
        data.seek(0, io.SEEK_END)
        actual = data.tell()
        data.seek(0)
    except (AttributeError, OSError, ValueError):
        with tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES) as spool:
            actual = _copy(data, spool, size + 1)
            spool.seek(0)
            _check_length(path, actual, size)
            yield spool
        return
    _check_length(path, actual, size)
    yield data


def _copy(source: IO[bytes], target: IO[bytes], most: int) -> int:
    copied = 0
    while copied < most and (chunk := source.read(min(CHUNK_BYTES, most - copied))):
        target.write(chunk)
        copied += len(chunk)
    return copied


def _check_length(path: str, actual: int, size: int) -> None:
    if actual != size:
        raise TransferError(f"{path}: the content has {actual} bytes, not the {size} expected.")


def _folder_members(path: str, stats: list[PathStat | None]) -> list[tarfile.TarInfo]:
    # Docker applies a member's mode (and time) to a folder that exists: keep its mode.
    return [
        tar_member(folder, mode=stat.permissions if stat else 0o755)
        for folder, stat in zip(_folders(path), stats, strict=True)
    ]


# --- Copy out ----------------------------------------------------------------------------


def copy_out(container, *, sandbox_path: str, limit: int, check: TypeCheck) -> tuple[str, bytes]:
    """Reads one regular file of /workspace, of at most ``limit`` bytes: (name, content).
    ``check`` refuses file types (see ``TypeCheck``)."""
    path = sandbox_path_of(sandbox_path)
    name = posixpath.basename(path)
    _check_type(check, path, name, b"")
    if not all(_checked_folders(container, path)):
        raise _missing(path)
    content = _read_file(container, path, limit)
    _check_type(check, path, name, content[:SNIFF_BYTES])
    return name, content


def _missing(path: str) -> TransferError:
    return TransferError(f"no such file in the sandbox: {path}")


def _read_file(container, path: str, limit: int) -> bytes:
    api = container.client.api
    response = api._get(
        archive_url(container),
        params={"path": path},
        stream=True,
        headers={"Accept-Encoding": "identity"},
    )
    with response:
        if response.status_code == 404:
            raise _missing(path)
        api._raise_for_status(response)
        # Refused on Docker's word before a byte of content is read.
        _refuse_stat(path, PathStat.from_header(response.headers[STAT_HEADER]), limit)
        grew = TransferError(f"{path} grew past the {human_size(limit)} limit while it was read.")
        stream = BoundedReader(response.iter_content(CHUNK_BYTES), limit + TAR_OVERHEAD_BYTES, grew)
        return _only_file(stream, path, limit)


def _refuse_stat(path: str, stat: PathStat, limit: int) -> None:
    if stat.is_symlink:
        raise TransferError(
            f"{path} is a symbolic link (to {_printable(stat.link_target)}); copy the file itself."
        )
    if stat.is_dir:
        raise TransferError(f"{path} is a folder; copy the files in it one at a time.")
    if kind := stat.special_kind():
        raise TransferError(f"{path} is {kind}; only regular files can be copied.")
    _check_size(path, stat.size, limit)


def _only_file(stream: "BoundedReader", path: str, limit: int) -> bytes:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            member = archive.next()
            _refuse_member(path, member, limit)
            content = archive.extractfile(member).read()
    except tarfile.TarError as error:
        raise TransferError(f"{path} changed while it was read; try again.") from error
    if len(content) != member.size:
        raise TransferError(f"{path} changed while it was read; try again.")
    return content


def _refuse_member(path: str, member: tarfile.TarInfo | None, limit: int) -> None:
    # The stat header was checked already; the file may have been swapped since.
    if member is None:
        raise _missing(path)
    if member.issym():
        raise TransferError(
            f"{path} is a symbolic link (to {_printable(member.linkname)}); copy the file itself."
        )
    if member.islnk():
        raise TransferError(f"{path} is a hard link; only regular files can be copied.")
    if not member.isreg():
        raise TransferError(f"{path} is not a regular file; only regular files can be copied.")
    _check_size(path, member.size, limit)


# --- Sessions ----------------------------------------------------------------------------


@contextmanager
def transfer_recorded(
    session: Session,
    *,
    workspace: Workspace,
    kind: str,
    source: str,
    refusals: tuple[type[Exception], ...] = (),
) -> Iterator["TransferRecord"]:
    """One transfer in ``session`` of ``workspace``, alone in the session and recorded
    as an execution. A ``TransferError`` or one of ``refusals`` raised in the block
    becomes the error status of ``record.event``; other failures a plain one."""
    _check_session(session, workspace)
    with (
        session.exclusive(),
        TransferRecord(session, kind, source, (TransferError, *refusals)) as record,
    ):
        yield record


def _check_session(session: Session, workspace: Workspace) -> None:
    if session.closed:
        raise SessionError("This sandbox session is closed.")
    owner = session.record.workspace_id
    if owner is not None and owner != workspace.pk:
        raise SessionError("This sandbox session belongs to another workspace.")


class TransferRecord:
    """One transfer as an execution: timed by the host; refusals become error statuses."""

    def __init__(self, session: Session, kind: str, source: str, refusals: tuple):
        self.started = time.monotonic()
        self.refusals = refusals
        self.execution = services.execution_create(session=session.record, kind=kind, source=source)
        self.event: dict = {"type": "status", "status": Execution.Status.OK.value, "message": ""}

    def done(self, message: str, **fields) -> None:
        self.event.update(message=message, **fields)

    def __enter__(self) -> "TransferRecord":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        refused = isinstance(exc, self.refusals)
        if exc is not None:
            message = str(exc) if refused else f"The transfer failed ({type(exc).__name__})."
            message = message[:1].upper() + message[1:]
            self.event.update(status=Execution.Status.ERROR.value, message=message)
        self.event["duration_ms"] = round((time.monotonic() - self.started) * 1000)
        services.execution_finish(
            execution=self.execution,
            status=self.event["status"],
            duration_ms=self.event["duration_ms"],
            message=self.event["message"],
        )
        return refused
