"""config/datadir.py: the data folder and what Turnbox writes in it are the owner's alone."""

import os
import stat
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.datadir import private_file, private_folder
from drive import services
from tests.config.test_settings import ROOT, clean_env


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_fresh_data_folder_is_private_whatever_the_umask(tmp_path):
    data = tmp_path / "var"
    env = clean_env(data)
    for command in (["migrate", "-v", "0"], ["seed_demo"]):
        subprocess.run(  # a permissive umask, as many shells have
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            preexec_fn=lambda: os.umask(0o022),
        )

    assert mode(data) == 0o700
    for name in ("db.sqlite3", "secret_key", "encryption_key", "demo_password"):
        assert mode(data / name) == 0o600, name
    for journal in data.glob("db.sqlite3-*"):
        assert mode(journal) == 0o600, journal.name
    drive_files = [path for path in (data / "drive").rglob("*") if path.is_file()]
    assert drive_files, "the demo data puts files in the Drive"
    for path in (data / "drive").rglob("*"):
        assert mode(path) == (0o600 if path.is_file() else 0o700), path


@pytest.mark.django_db
def test_drive_files_and_their_folders_are_private(team, tmp_path):
    old = os.umask(0o022)
    try:
        stored = services.drive_file_upload(
            workspace=team.workspace,
            path="/reports/q4.csv",
            content=SimpleUploadedFile("q4.csv", b"a,b\n1,2\n"),
            uploaded_by=team.member,
        )
    finally:
        os.umask(old)
    drive = tmp_path / "drive"
    blob = drive / stored.blob_name
    assert mode(blob) == 0o600
    folder = blob.parent
    while folder != drive:
        assert mode(folder) == 0o700, folder
        folder = folder.parent


def test_it_tightens_a_data_folder_of_ours_that_others_could_read(tmp_path):
    folder = tmp_path / "var"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)

    private_folder(folder)

    assert mode(folder) == 0o700


def test_it_leaves_a_shared_folder_as_it_is(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)

    private_folder(shared)

    assert mode(shared) == 0o1777


def test_it_never_changes_an_existing_files_mode(tmp_path):
    existing = tmp_path / "db.sqlite3"
    existing.write_bytes(b"")
    existing.chmod(0o640)

    private_file(existing)

    assert mode(existing) == 0o640
    private_file(tmp_path / "new" / "db.sqlite3")
    assert mode(tmp_path / "new" / "db.sqlite3") == 0o600
    assert mode(tmp_path / "new") == 0o700
