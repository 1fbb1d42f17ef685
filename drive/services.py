"""Drive writes.

Each upload is stored under a fresh random key, never under the user's path. A replace
therefore writes the new blob first, then switches the row, and deletes the old blob
only once that switch has committed: a failure at any step leaves the previous version
whole, and at worst an unreferenced blob behind (which we also try to remove).
"""

import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from drive import rules
from drive.models import DriveFile
from drive.selectors import drive_file_exists, drive_storage, files_under
from workspaces.models import User, Workspace

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
# Non-rewindable sources are copied while hashing; small ones stay in memory.
SPOOL_MEMORY_BYTES = 5 * 1024 * 1024


class DriveError(ValueError):
    """Base of Drive refusals; the message is plain and safe to show."""


class InvalidFile(DriveError):
    """The path, type, content or size breaks a rule of drive.rules."""


class FileExistsInDrive(DriveError):
    pass


class PathConflict(DriveError):
    """A file would sit where a folder is, or inside something that is a file."""


@dataclass(frozen=True)
class _Scanned:
    head: bytes
    size: int
    sha256: str


def drive_file_upload(
    *,
    workspace: Workspace,
    path: str,
    content: File | IO[bytes],
    uploaded_by: User | None = None,
    replace: bool = False,
) -> DriveFile:
    """Store ``content`` (read in chunks, from the start) at ``path``.

    Refusals raise a DriveError: InvalidFile (drive.rules), FileExistsInDrive (unless
    ``replace``) or PathConflict. Storage and database failures propagate unchanged."""
    path = _checked(_printable(path), rules.normalize_path, path)
    if not replace and drive_file_exists(workspace=workspace, path=path):
        raise _exists(path)  # Before reading a possibly large upload.
    _checked(path, rules.check_file_type, path, b"")  # Likewise: a .exe needs no reading.
    limit = settings.DRIVE_MAX_FILE_BYTES
    with _rewindable(content, label=path, limit=limit) as stream:
        scanned = _scan(stream, label=path, limit=limit)
        file_type = _checked(path, rules.check_file_type, path, scanned.head)
        blob_name = _store_blob(workspace, stream)
    fields = {
        "blob_name": blob_name,
        "size": scanned.size,
        "content_type": file_type.content_type,
        "sha256": scanned.sha256,
        "uploaded_by": uploaded_by,
    }
    try:
        return _record(workspace=workspace, path=path, replace=replace, fields=fields)
    except BaseException:
        _delete_blob(blob_name)
        raise


def drive_file_delete(*, drive_file: DriveFile) -> None:
    with transaction.atomic():
        # Read again, locked: a replace that committed since ``drive_file`` was loaded
        # points the row at a new blob, and that one is what must go.
        current = DriveFile.objects.select_for_update().filter(pk=drive_file.pk).first()
        if current is None:
            return  # Deleted meanwhile; that delete removes the blob.
        current.delete()
        # After commit: if the transaction rolls back, the row still needs its blob.
        transaction.on_commit(partial(_delete_blob, current.blob_name))


@transaction.atomic
def drive_files_purge(*, workspace: Workspace) -> int:
    """Deletes every file of a workspace (before the workspace itself goes): rows now,
    blobs once that has committed. Returns how many files there were."""
    files = DriveFile.objects.select_for_update().filter(workspace=workspace)
    blob_names = list(files.values_list("blob_name", flat=True))
    files.delete()
    for blob_name in blob_names:
        transaction.on_commit(partial(_delete_blob, blob_name))
    return len(blob_names)


def _checked(label: str, rule, *args):
    try:
        return rule(*args)
    except rules.RuleError as error:
        raise InvalidFile(f"{label}: {error}") from error


def _printable(path) -> str:
    # The refused path is echoed back in the message; keep invisible characters visible.
    return "".join(c if c.isprintable() else "\ufffd" for c in str(path))


def _exists(path: str) -> FileExistsInDrive:
    return FileExistsInDrive(f"{path}: file already exists.")


@contextmanager
def _rewindable(content, *, label: str, limit: int) -> Iterator[IO[bytes]]:
    """The content itself when it can seek; otherwise a temporary copy of it."""
    try:
        content.seek(0)
    except (AttributeError, OSError, ValueError):
        pass
    else:
        yield content
        return
    with tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES) as spool:
        size = 0
        while chunk := content.read(CHUNK_BYTES):
            size += len(chunk)
            _checked(label, rules.check_size, size, limit)
            spool.write(chunk)
        spool.seek(0)
        yield spool


def _scan(stream: IO[bytes], *, label: str, limit: int) -> _Scanned:
    """One pass in chunks: size (stopping past the limit), SHA-256 and the head to sniff."""
    _checked(label, rules.check_size, getattr(stream, "size", None) or 0, limit)
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := stream.read(CHUNK_BYTES):
        size += len(chunk)
        _checked(label, rules.check_size, size, limit)
        digest.update(chunk)
        head += chunk[: max(rules.SNIFF_BYTES - len(head), 0)]
    stream.seek(0)
    return _Scanned(head=head, size=size, sha256=digest.hexdigest())


def _store_blob(workspace: Workspace, stream: IO[bytes]) -> str:
    # A plain File: the storage must not pick up the browser's claimed content type.
    name = f"ws-{workspace.pk}/{uuid.uuid4().hex}"
    try:
        return drive_storage().save(name, File(stream, name=name))
    except BaseException:
        _delete_blob(name)  # A write that failed midway can leave part of the file behind.
        raise


def _delete_blob(blob_name: str) -> None:
    try:
        drive_storage().delete(blob_name)
    except Exception:
        # The row no longer points at it; an orphan blob is wasted space, not lost data.
        logger.exception("Could not delete Drive blob %s", blob_name)


def _record(*, workspace: Workspace, path: str, replace: bool, fields: dict) -> DriveFile:
    try:
        with transaction.atomic():
            return _create_or_replace(workspace, path, replace, fields)
    except IntegrityError:
        pass
    # Another upload created this path between our lookup and our insert: look again,
    # now refusing (or replacing) like any existing file.
    with transaction.atomic():
        return _create_or_replace(workspace, path, replace, fields)


def _create_or_replace(workspace: Workspace, path: str, replace: bool, fields: dict) -> DriveFile:
    _lock_workspace(workspace)
    now = timezone.now()
    existing = _locked_row(workspace, path)
    if existing is None:
        _refuse_conflicts(workspace, path)
        return DriveFile.objects.create(
            workspace=workspace, path=path, created_at=now, updated_at=now, **fields
        )
    if not replace:
        raise _exists(path)
    old_blob = existing.blob_name
    for name, value in {**fields, "updated_at": now}.items():
        setattr(existing, name, value)
    existing.save()
    transaction.on_commit(partial(_delete_blob, old_blob))
    return existing


def _lock_workspace(workspace: Workspace) -> None:
    # "/a.csv" and "/a.csv/b.csv" are different rows, so no unique constraint stops both
    # being created: writers of one Drive take turns, each seeing the other's committed
    # rows in _refuse_conflicts. (A no-op on SQLite, whose IMMEDIATE transactions already
    # admit one writer at a time.) Taken first, before any row lock, so no deadlock.
    Workspace.objects.select_for_update().get(pk=workspace.pk)


def _locked_row(workspace: Workspace, path: str) -> DriveFile | None:
    return DriveFile.objects.select_for_update().filter(workspace=workspace, path=path).first()


def _refuse_conflicts(workspace: Workspace, path: str) -> None:
    if files_under(workspace=workspace, prefix=f"{path}/").exists():
        raise PathConflict(f"{path}: a folder with this name already exists.")
    parents = rules.parent_folders(path)
    clash = DriveFile.objects.filter(workspace=workspace, path__in=parents).first()
    if clash is not None:
        raise PathConflict(f"{path}: “{clash.path}” is a file, so it cannot hold other files.")
