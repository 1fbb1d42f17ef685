"""Docker's archive endpoint for one container: what it says about a path (the stat
header), and the tar streams it takes and gives. The checks that make a transfer safe
are sandbox/transfer.py's; this is the wire format under them."""

import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from docker.utils import decode_json_header

from sandbox.containers import USER, WORKDIR

UID, GID = (int(part) for part in USER.split(":"))
CHUNK_BYTES = 64 * 1024
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
STAT_HEADER = "X-Docker-Container-Path-Stat"


class TransferError(ValueError):
    """A refused transfer; the message says why and what to do instead."""


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


def archive_url(container) -> str:
    # docker-py offers neither the stat-only HEAD request nor put_archive's
    # noOverwriteDirNonDir: both are plain requests on the same endpoint.
    return container.client.api._url("/containers/{0}/archive", container.id)


def path_stat(container, path: str) -> PathStat | None:
    """Docker's lstat of a path in the container (links on the way are followed), or None."""
    api = container.client.api
    response = api.head(archive_url(container), params={"path": path})
    if response.status_code == 404:
        return None
    api._raise_for_status(response)
    return PathStat.from_header(response.headers[STAT_HEADER])


# --- Tar streams ------------------------------------------------------------------------


def tar_member(path: str, *, size: int = 0, mode: int | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path[len(WORKDIR) + 1 :])
    info.uid, info.gid = UID, GID
    info.mtime = int(time.time())
    if mode is None:
        info.size, info.mode = size, 0o644
    else:
        info.type, info.mode = tarfile.DIRTYPE, mode
    return info


def tar_chunks(
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


def archive_put(container, path: str, chunks: Iterator[bytes]) -> None:
    api = container.client.api
    params = {"path": WORKDIR, "noOverwriteDirNonDir": "1"}
    response = api._put(archive_url(container), params=params, data=chunks)
    if response.status_code == 500 and "cannot overwrite" in response.text:
        raise TransferError(
            f"a folder on the way to {path}, or {path} itself, changed while copying "
            "(into a link, a file or a folder); nothing was copied."
        )
    api._raise_for_status(response)


class BoundedReader:
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
