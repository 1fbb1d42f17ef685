"""Secrets that the embedded default generates once and keeps in the data folder.

A fresh machine must run with one command, yet a secret shipped in the repository
would be known to everyone. So when SECRET_KEY or TURNBOX_ENCRYPTION_KEYS is not
set, the value is generated on first start and stored (mode 0600) next to the
SQLite database. Production sets both explicitly; a deploy check says so.
"""

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, generate: Callable[[], str]) -> str:
    """Several processes may start at once: the value is written to a private temporary
    file and linked into place, so nobody ever reads a half-written or empty secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if value := _read(path):
        return value
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(generate() + "\n")
        # If another process linked first, its value is the one everybody uses.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    if value := _read(path):
        return value
    raise RuntimeError(f"{path} is empty: delete it and start again.")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
