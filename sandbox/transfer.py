"""Files between Drive and a sandbox's /workspace, through Docker's archive API.

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
folder and the file in it, is also bounded by the Drive's file-type allowlist.

Refusals raise ``TransferError``, worded for the person or model that asked.
"""

import io
import posixpath
import tarfile
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.http import Http404
from docker.utils import decode_json_header

from drive import rules
from drive.selectors import drive_file_exists, drive_file_get, drive_file_open
from drive.services import DriveError, FileExistsInDrive, drive_file_upload
from sandbox import services
from sandbox.containers import USER, WORKDIR
from sandbox.models import Execution
from sandbox.session import Session, SessionError
from workspaces.models import User, Workspace

UID, GID = (int(part) for part in USER.split(":"))
CHUNK_BYTES = 64 * 1024
# Sources that cannot seek are copied first (to be measured); small ones stay in memory.
SPOOL_MEMORY_BYTES = 5 * 1024 * 1024
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
# Room for the tar headers around one file: its header, extended (PAX) headers for a long
# name or attributes, padding and the two closing blocks.
TAR_OVERHEAD_BYTES = 64 * 1024
STAT_HEADER = "X-Docker-Container-Path-Stat"

# The stat header's mode is a Go os.FileMode: the file type lives in these high bits.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_KINDS = {
    1 << 26: "a device",
    1 << 25: "a named pipe (FIFO)",
    1 << 24: "a socket",
    1 << 21: "a character device",
    1 << 19: "an irregular file",
}


class TransferError(ValueError):
    """A refused transfer; the message says why and what to do instead."""


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


# --- What Docker says about a path -------------------------------------------------------


@dataclass(frozen=True)
class PathStat:
    size: int
    mode: int
    link_target: str

    @classmethod
    def from_header(cls, header: str) -> "PathStat":
        info = decode_json_header(header)
        return cls(
            size=int(info.get("size", 0)),
            mode=int(info.get("mode", 0)),
            link_target=str(info.get("linkTarget", "")),
        )

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & GO_DIR)

    @property
    def is_symlink(self) -> bool:
        return bool(self.mode & GO_SYMLINK) or bool(self.link_target)

    @property
    def permissions(self) -> int:
        return self.mode & 0o777

    def special_kind(self) -> str | None:
        return next((kind for bit, kind in GO_KINDS.items() if self.mode & bit), None)


def _archive_url(container) -> str:
    # docker-py offers neither the stat-only HEAD request nor put_archive's
    # noOverwriteDirNonDir: both are plain requests on the same endpoint.
    return container.client.api._url("/containers/{0}/archive", container.id)


def path_stat(container, path: str) -> PathStat | None:
    """Docker's lstat of a path in the container (links on the way are followed), or None."""
    api = container.client.api
    response = api.head(_archive_url(container), params={"path": path})
    if response.status_code == 404:
        return None
    api._raise_for_status(response)
    return PathStat.from_header(response.headers[STAT_HEADER])


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


# --- Drive rules -------------------------------------------------------------------------


def _check_type(path: str, name: str, head: bytes) -> None:
    try:
        rules.check_file_type(name, head)
    except rules.RuleError as error:
        raise TransferError(f"{path}: {error}") from error


def _check_size(path: str, size: int, limit: int) -> None:
    try:
        rules.check_size(size, limit)
    except rules.FileSizeError:
        raise TransferError(
            f"{path} is {human_size(size)}; the limit is {human_size(limit)}."
        ) from None


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < rules.MB:
        return f"{size / 1024:.3g} KB"
    return f"{size / rules.MB:.3g} MB"


# --- Copy in -----------------------------------------------------------------------------


def copy_in(container, *, sandbox_path: str, data: bytes | IO[bytes], size: int) -> str:
    """Writes one file into /workspace, making its folders; returns its absolute path."""
    path = sandbox_path_of(sandbox_path)
    name = posixpath.basename(path)
    _check_type(path, name, b"")
    _check_size(path, size, settings.DRIVE_MAX_FILE_BYTES)
    with _exactly(data, size, path) as reader:
        head = reader.read(min(size, rules.SNIFF_BYTES))
        _check_type(path, name, head)
        folders = _checked_folders(container, path)
        target = path_stat(container, path) if all(folders) else None
        if target is not None and target.is_dir:
            raise TransferError(f"{path} is a folder in the sandbox; choose a file path.")
        members = [*_folder_members(path, folders), _member(path, size=size)]
        _put(container, path, _tar_chunks(members, head, reader, size))
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


def _member(path: str, *, size: int = 0, mode: int | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path[len(WORKDIR) + 1 :])
    info.uid, info.gid = UID, GID
    info.mtime = int(time.time())
    if mode is None:
        info.size, info.mode = size, 0o644
    else:
        info.type, info.mode = tarfile.DIRTYPE, mode
    return info


def _folder_members(path: str, stats: list[PathStat | None]) -> list[tarfile.TarInfo]:
    # Docker applies a member's mode (and time) to a folder that exists: keep its mode.
    return [
        _member(folder, mode=stat.permissions if stat else 0o755)
        for folder, stat in zip(_folders(path), stats, strict=True)
    ]


def _tar_chunks(
    members: list[tarfile.TarInfo], head: bytes, reader: IO[bytes], size: int
) -> Iterator[bytes]:
    """The archive, streamed: headers, exactly ``size`` bytes of content, padding, end."""
    for member in members:
        yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    yield from _content(head, reader, size)
    yield tarfile.NUL * (-size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)


def _content(head: bytes, reader: IO[bytes], size: int) -> Iterator[bytes]:
    yield head
    sent = len(head)
    while sent < size:
        chunk = reader.read(min(CHUNK_BYTES, size - sent))
        if not chunk:
            raise TransferError(f"the content ended after {sent} of its {size} bytes.")
        yield chunk
        sent += len(chunk)


def _put(container, path: str, chunks: Iterator[bytes]) -> None:
    api = container.client.api
    params = {"path": WORKDIR, "noOverwriteDirNonDir": "1"}
    response = api._put(_archive_url(container), params=params, data=chunks)
    if response.status_code == 500 and "cannot overwrite" in response.text:
        raise TransferError(
            f"a folder on the way to {path}, or {path} itself, changed while copying "
            "(into a link, a file or a folder); nothing was copied."
        )
    api._raise_for_status(response)


# --- Copy out ----------------------------------------------------------------------------


def copy_out(container, *, sandbox_path: str, limit: int) -> tuple[str, bytes]:
    """Reads one regular file of /workspace, of at most ``limit`` bytes: (name, content)."""
    path = sandbox_path_of(sandbox_path)
    name = posixpath.basename(path)
    _check_type(path, name, b"")
    if not all(_checked_folders(container, path)):
        raise _missing(path)
    content = _read_file(container, path, limit)
    _check_type(path, name, content[: rules.SNIFF_BYTES])
    return name, content


def _missing(path: str) -> TransferError:
    return TransferError(f"no such file in the sandbox: {path}")


def _read_file(container, path: str, limit: int) -> bytes:
    api = container.client.api
    response = api._get(
        _archive_url(container),
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
        stream = _BoundedReader(
            response.iter_content(CHUNK_BYTES), limit + TAR_OVERHEAD_BYTES, grew
        )
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


def _only_file(stream: "_BoundedReader", path: str, limit: int) -> bytes:
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


class _BoundedReader:
    """A read()-able view of a stream of chunks that refuses to go past ``cap`` bytes."""

    def __init__(self, chunks: Iterator[bytes], cap: int, refusal: TransferError):
        self._chunks = chunks
        self._cap = cap
        self._refusal = refusal
        # A bytearray drops its front in place: tarfile reads in blocks of 10 KB.
        self._buffer = bytearray()
        self._total = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._total += len(chunk)
            if self._total > self._cap:
                raise self._refusal
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


# --- Sessions ----------------------------------------------------------------------------


def upload_to_session(
    session: Session, *, workspace: Workspace, drive_path: str, sandbox_path: str | None = None
) -> dict:
    """Copies a Drive file of ``workspace`` into the session's /workspace (by default
    under its own name); returns a status event. Refusals are error statuses."""
    _check_session(session, workspace)
    default = f"{WORKDIR}/{posixpath.basename(str(drive_path))}"
    source = f"{drive_path} -> {sandbox_path or default}"
    with session.exclusive(), _Transfer(session, Execution.Kind.UPLOAD, source) as transfer:
        drive_file = _drive_file(workspace, drive_path)
        transfer.event["path"] = target = sandbox_path or f"{WORKDIR}/{drive_file.name}"
        with drive_file_open(drive_file=drive_file) as content:
            path = copy_in(
                session.sandbox.container, sandbox_path=target, data=content, size=drive_file.size
            )
        size = drive_file.size
        transfer.done(
            f"Copied {drive_file.path} from Drive to {path} ({human_size(size)}).",
            path=path,
            size=size,
        )
    return transfer.event


def download_from_session(
    session: Session,
    *,
    workspace: Workspace,
    sandbox_path: str,
    drive_path: str,
    replace: bool = False,
    user: User | None = None,
) -> dict:
    """Stores a file of the session's /workspace in the Drive of ``workspace`` (a path
    ending in "/" keeps the file's name); returns a status event."""
    _check_session(session, workspace)
    label = f"{sandbox_path} -> {drive_path}"
    with session.exclusive(), _Transfer(session, Execution.Kind.DOWNLOAD, label) as transfer:
        source = sandbox_path_of(sandbox_path)
        transfer.event["path"] = target = _drive_target(drive_path, source)
        # Before reading the file out: an existing file is refused anyway.
        if not replace and drive_file_exists(workspace=workspace, path=target):
            raise _exists(target)
        _, content = copy_out(
            session.sandbox.container, sandbox_path=source, limit=settings.DRIVE_MAX_FILE_BYTES
        )
        try:
            drive_file = drive_file_upload(
                workspace=workspace,
                path=target,
                content=io.BytesIO(content),
                uploaded_by=user,
                replace=replace,
            )
        except FileExistsInDrive:
            raise _exists(target) from None
        transfer.done(
            f"Copied {source} to Drive as {target} ({human_size(drive_file.size)}).",
            path=target,
            size=drive_file.size,
        )
    return transfer.event


def _check_session(session: Session, workspace: Workspace) -> None:
    if session.closed:
        raise SessionError("This sandbox session is closed.")
    owner = session.record.workspace_id
    if owner is not None and owner != workspace.pk:
        raise SessionError("This sandbox session belongs to another workspace.")


def _drive_file(workspace: Workspace, drive_path: str):
    try:
        return drive_file_get(workspace=workspace, path=drive_path)
    except Http404:
        raise TransferError(f"no such file in Drive: {drive_path}") from None


def _drive_target(drive_path: str, source: str) -> str:
    if isinstance(drive_path, str) and drive_path.endswith("/"):
        drive_path += posixpath.basename(source)
    try:
        return rules.normalize_path(drive_path)
    except rules.PathError as error:
        raise TransferError(f"{drive_path}: {error}") from None


def _exists(path: str) -> TransferError:
    return TransferError(
        f"{path}: a file already exists at this Drive path; pass replace=true to replace it."
    )


class _Transfer:
    """One transfer as an execution: timed by the host; refusals become error statuses."""

    def __init__(self, session: Session, kind: str, source: str):
        self.started = time.monotonic()
        self.execution = services.execution_create(session=session.record, kind=kind, source=source)
        self.event: dict = {"type": "status", "status": Execution.Status.OK.value, "message": ""}

    def done(self, message: str, **fields) -> None:
        self.event.update(message=message, **fields)

    def __enter__(self) -> "_Transfer":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        refused = isinstance(exc, TransferError | DriveError)
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
