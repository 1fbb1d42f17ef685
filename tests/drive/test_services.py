import hashlib
import io
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError

from drive import selectors, services
from drive.models import DriveFile
from drive.services import FileExistsInDrive, InvalidFile, PathConflict

CSV = b"region,total\nnorth,10\nsouth,12\n"


def upload(team, path: str, data: bytes, *, replace: bool = False, content=None) -> DriveFile:
    return services.drive_file_upload(
        workspace=team.workspace,
        path=path,
        content=content if content is not None else SimpleUploadedFile("x", data),
        uploaded_by=team.member,
        replace=replace,
    )


def read(drive_file: DriveFile) -> bytes:
    with selectors.drive_file_open(drive_file=drive_file) as stream:
        return stream.read()


def blobs(workspace) -> set[str]:
    folder = f"ws-{workspace.pk}"
    storage = storages["drive"]
    if not storage.exists(folder):
        return set()
    return {f"{folder}/{name}" for name in storage.listdir(folder)[1]}


class OneWayStream:
    """A pipe-like source: no seek, no size, records how much each read asked for."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.reads: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self._data.read(size)


def test_it_stores_size_content_type_sha256_and_content(team):
    drive_file = upload(team, "/data/files/q4_sales.csv", CSV)

    drive_file.refresh_from_db()
    assert drive_file.path == "/data/files/q4_sales.csv"
    assert drive_file.size == len(CSV)
    assert drive_file.content_type == "text/csv"
    assert drive_file.sha256 == hashlib.sha256(CSV).hexdigest()
    assert drive_file.uploaded_by == team.member
    assert drive_file.created_at.tzinfo is not None
    assert not drive_file.was_replaced
    assert read(drive_file) == CSV


def test_it_stores_blobs_under_a_random_key_not_the_users_path(team):
    first = upload(team, "/data/a.csv", CSV)
    second = upload(team, "/data/b.csv", CSV)

    for drive_file in (first, second):
        assert re.fullmatch(rf"ws-{team.workspace.pk}/[0-9a-f]{{32}}", drive_file.blob_name)
    assert first.blob_name != second.blob_name


def test_it_normalizes_the_path_before_storing(team):
    assert upload(team, "//data//a.csv", CSV).path == "/data/a.csv"


def test_it_hashes_a_large_upload_in_chunks(team):
    data = bytes(range(256)) * 16 * 1024  # 4 MB
    stream = OneWayStream(data)

    drive_file = upload(team, "/big.txt", data, content=stream)

    assert drive_file.size == len(data)
    assert drive_file.sha256 == hashlib.sha256(data).hexdigest()
    assert max(stream.reads) <= services.CHUNK_BYTES
    assert read(drive_file) == data


def test_it_accepts_plain_file_objects_and_reads_them_from_the_start(team):
    stream = io.BytesIO(CSV)
    stream.seek(5)

    assert read(upload(team, "/from-start.csv", CSV, content=stream)) == CSV


def test_it_accepts_empty_files(team):
    drive_file = upload(team, "/empty.txt", b"")

    assert drive_file.size == 0
    assert drive_file.sha256 == hashlib.sha256(b"").hexdigest()
    assert read(drive_file) == b""


def test_it_refuses_overwrite_without_replace(team):
    original = upload(team, "/data/a.csv", CSV)

    with pytest.raises(FileExistsInDrive) as refused:
        upload(team, "/data/a.csv", b"other,content\n")

    assert str(refused.value) == "/data/a.csv: file already exists."
    original.refresh_from_db()
    assert read(original) == CSV
    assert blobs(team.workspace) == {original.blob_name}


def test_it_replaces_content_and_removes_the_old_blob(team, django_capture_on_commit_callbacks):
    original = upload(team, "/data/a.csv", CSV)
    old_blob, created_at = original.blob_name, original.created_at
    new_content = b"region,total\nwest,99\n"

    with django_capture_on_commit_callbacks(execute=True):
        replaced = services.drive_file_upload(
            workspace=team.workspace,
            path="/data/a.csv",
            content=ContentFile(new_content),
            uploaded_by=team.admin,
            replace=True,
        )

    replaced.refresh_from_db()
    assert replaced.pk == original.pk
    assert read(replaced) == new_content
    assert replaced.size == len(new_content)
    assert replaced.sha256 == hashlib.sha256(new_content).hexdigest()
    assert replaced.uploaded_by == team.admin
    assert replaced.created_at == created_at
    assert replaced.was_replaced
    assert not storages["drive"].exists(old_blob)
    assert blobs(team.workspace) == {replaced.blob_name}
    assert DriveFile.objects.count() == 1


def test_replace_creates_the_file_when_it_does_not_exist_yet(team):
    drive_file = upload(team, "/new.csv", CSV, replace=True)

    assert read(drive_file) == CSV
    assert not drive_file.was_replaced


def test_it_refuses_files_over_the_size_limit_naming_it_in_megabytes(team, settings):
    settings.DRIVE_MAX_FILE_BYTES = 1024 * 1024

    with pytest.raises(InvalidFile) as refused:
        upload(team, "/big.csv", b"x" * (1024 * 1024 + 1))

    assert str(refused.value) == "/big.csv: the file is larger than the 1 MB limit."
    assert not DriveFile.objects.exists()
    assert blobs(team.workspace) == set()


def test_it_accepts_a_file_of_exactly_the_limit(team, settings):
    settings.DRIVE_MAX_FILE_BYTES = 1024

    assert upload(team, "/exact.txt", b"x" * 1024).size == 1024


def test_it_stops_reading_a_sizeless_stream_once_past_the_limit(team, settings):
    settings.DRIVE_MAX_FILE_BYTES = 1024
    stream = OneWayStream(b"x" * (10 * services.CHUNK_BYTES))

    with pytest.raises(InvalidFile, match=r"larger than the 0\.000977 MB"):
        upload(team, "/stream.txt", b"", content=stream)

    assert len(stream.reads) == 1
    assert blobs(team.workspace) == set()


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("/a/../../etc/passwd.txt", CSV, "/a/../../etc/passwd.txt: “..” is not allowed in a path."),
        ("relative.csv", CSV, "relative.csv: paths must be absolute"),
        ("/bad\x00name.csv", CSV, "/bad\ufffdname.csv: paths cannot contain control characters"),
        ("/a\u200f.csv", CSV, "/a\ufffd.csv: paths cannot contain the invisible character U+200F"),
        ("/setup.exe", b"MZ", "/setup.exe: “.exe” files are executables"),
        ("/notes.txt", b"\x7fELF" + b"\x00" * 60, "/notes.txt: the content looks like an exec"),
    ],
)
def test_it_refuses_files_breaking_a_rule_and_stores_nothing(team, path, data, message):
    with pytest.raises(InvalidFile) as refused:
        upload(team, path, data)

    assert str(refused.value).startswith(message)
    assert not DriveFile.objects.exists()
    assert blobs(team.workspace) == set()


def test_it_refuses_a_file_where_a_folder_is(team):
    upload(team, "/notes.md/q4.csv", CSV)

    with pytest.raises(PathConflict, match="a folder with this name already exists"):
        upload(team, "/notes.md", CSV)


def test_it_refuses_a_file_inside_something_that_is_a_file(team):
    upload(team, "/notes.txt", CSV)

    with pytest.raises(PathConflict, match=r"“/notes\.txt” is a file"):
        upload(team, "/notes.txt/inner.txt", CSV)


def test_paths_are_case_sensitive(team):
    upload(team, "/Data/a.csv", CSV)

    assert upload(team, "/data/a.csv", b"lower\n").path == "/data/a.csv"
    assert DriveFile.objects.count() == 2


def test_the_same_path_is_independent_in_each_workspace(team, other_team):
    ours = upload(team, "/a.csv", CSV)
    theirs = upload(other_team, "/a.csv", b"theirs\n")

    assert read(ours) == CSV
    assert read(theirs) == b"theirs\n"


def test_delete_removes_the_row_and_the_blob(team, django_capture_on_commit_callbacks):
    drive_file = upload(team, "/a.csv", CSV)

    with django_capture_on_commit_callbacks(execute=True):
        services.drive_file_delete(drive_file=drive_file)

    assert not DriveFile.objects.exists()
    assert not storages["drive"].exists(drive_file.blob_name)


def test_delete_removes_the_current_blob_after_a_replace_since_loading(
    team, django_capture_on_commit_callbacks
):
    loaded = upload(team, "/a.csv", CSV)
    with django_capture_on_commit_callbacks(execute=True):
        replacement = upload(team, "/a.csv", b"new\n", replace=True)

    with django_capture_on_commit_callbacks(execute=True):
        services.drive_file_delete(drive_file=loaded)

    assert replacement.blob_name != loaded.blob_name
    assert not storages["drive"].exists(replacement.blob_name)
    assert blobs(team.workspace) == set()
    assert not DriveFile.objects.exists()


def test_deleting_a_file_already_deleted_elsewhere_does_nothing(
    team, django_capture_on_commit_callbacks
):
    drive_file = upload(team, "/a.csv", CSV)
    other = upload(team, "/b.csv", CSV)
    services.drive_file_delete(drive_file=DriveFile.objects.get(pk=drive_file.pk))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.drive_file_delete(drive_file=drive_file)

    assert callbacks == []
    assert list(DriveFile.objects.all()) == [other]
    assert other.blob_name in blobs(team.workspace)


def test_a_failing_storage_during_replace_loses_nothing(team, monkeypatch):
    original = upload(team, "/data/a.csv", CSV)
    storage = storages["drive"]
    real_save = storage._save

    def disk_full_halfway(name, content):
        real_save(name, ContentFile(b"new\nhal"))
        raise OSError("No space left on device")

    monkeypatch.setattr(storage, "_save", disk_full_halfway)
    with pytest.raises(OSError, match="No space left"):
        upload(team, "/data/a.csv", b"new\nhalf of the new content\n", replace=True)

    original.refresh_from_db()
    assert read(original) == CSV
    assert original.sha256 == hashlib.sha256(CSV).hexdigest()
    assert blobs(team.workspace) == {original.blob_name}


def test_a_failing_database_during_replace_loses_nothing_and_leaves_no_orphan(team, monkeypatch):
    original = upload(team, "/data/a.csv", CSV)

    def database_down(self, *args, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(DriveFile, "save", database_down)
    with pytest.raises(DatabaseError):
        upload(team, "/data/a.csv", b"new\n", replace=True)
    monkeypatch.undo()

    original.refresh_from_db()
    assert read(original) == CSV
    assert blobs(team.workspace) == {original.blob_name}


def lose_the_race(monkeypatch, times: int) -> None:
    """Our existence checks run before a concurrent upload's row becomes visible."""
    real_locked_row = services._locked_row
    calls = {"n": 0}

    def stale_lookup(workspace, path):
        calls["n"] += 1
        return None if calls["n"] <= times else real_locked_row(workspace, path)

    monkeypatch.setattr(services, "drive_file_exists", lambda **kwargs: False)
    monkeypatch.setattr(services, "_locked_row", stale_lookup)


def test_a_concurrent_upload_of_the_same_path_is_refused_cleanly(team, monkeypatch):
    winner = upload(team, "/race.csv", b"winner\n")
    lose_the_race(monkeypatch, times=1)

    with pytest.raises(FileExistsInDrive, match="file already exists"):
        upload(team, "/race.csv", b"loser\n")

    assert read(winner) == b"winner\n"
    assert blobs(team.workspace) == {winner.blob_name}


def test_a_concurrent_replace_overwrites_the_winner(
    team, monkeypatch, django_capture_on_commit_callbacks
):
    winner = upload(team, "/race.csv", b"winner\n")
    lose_the_race(monkeypatch, times=1)

    with django_capture_on_commit_callbacks(execute=True):
        ours = upload(team, "/race.csv", b"ours\n", replace=True)

    assert ours.pk == winner.pk
    assert read(ours) == b"ours\n"
    assert blobs(team.workspace) == {ours.blob_name}
