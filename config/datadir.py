"""The data folder is the owner's alone: the SQLite database (sessions included), the
local Drive and the generated secrets live there, so nobody else on the machine may read
it, whatever the umask. Files that Turnbox stores in it are 0600, folders 0700."""

import contextlib
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Creates the folder owner-only, or tightens one of ours that others could read.
    A shared folder (sticky, like /tmp) or another user's is left as it is."""
    try:
        path.mkdir(mode=FOLDER_MODE, parents=True)
        return path
    except FileExistsError:
        pass
    info = path.stat()
    shared = info.st_mode & stat.S_ISVTX
    if info.st_uid == os.getuid() and not shared and info.st_mode & 0o077:
        path.chmod(FOLDER_MODE)
    return path


def private_file(path: Path) -> None:
    """Creates an empty file owner-only unless it exists. SQLite keeps an existing
    database's mode, and gives its journal and WAL files the database's mode too."""
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
