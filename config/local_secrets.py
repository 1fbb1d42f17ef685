"""Secrets that the embedded default generates once and keeps in the data folder.

A fresh machine must run with one command, yet a secret shipped in the repository
would be known to everyone. So when SECRET_KEY or TURNBOX_ENCRYPTION_KEYS is not
set, the value is generated on first start and stored (mode 0600) next to the
SQLite database. Production sets both explicitly; a deploy check says so.
"""

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, generate: Callable[[], str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = generate()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
