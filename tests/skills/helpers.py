"""Skill folders and zips for the tests, built in memory."""

import io
import stat
import zipfile

SKILL_MD = b"""---
name: sales-helper
description: Summarise sales CSVs. Use it for revenue questions.
requirements: [pandas]
---

# Sales helper

Read examples/run.py and adapt CSV_PATH.
"""
RUN_PY = b'import pandas as pd\nprint("rows", len(pd.read_csv("data/sales.csv")))\n'
SALES_CSV = b"region,revenue\nNorth,10\nSouth,32\n"


def skill_md(name: str = "sales-helper", description: str = "Does things. Use it often.") -> bytes:
    return f"---\nname: {name}\ndescription: {description}\n---\n\n# {name}\n".encode()


def skill_files(**extra: bytes) -> dict[str, bytes]:
    return {
        "SKILL.md": SKILL_MD,
        "examples/run.py": RUN_PY,
        "data/sales.csv": SALES_CSV,
        **extra,
    }


def make_zip(files: dict[str, bytes], *, folder: str = "", symlinks: dict[str, str] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(f"{folder}{path}", data)
        for path, target in dict(symlinks).items():
            info = zipfile.ZipInfo(f"{folder}{path}")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()
