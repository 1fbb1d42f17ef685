"""A skill's files as a folder: reading them from a zip, a folder or a browser upload,
checking them, and parsing SKILL.md. Nothing here touches the database.

Everything that arrives is hostile until checked: a zip is judged by its central
directory (sizes, count, ratio, symlinks, paths) before one byte is extracted, and
extraction stops at the announced size whatever the data says.
"""

import io
import posixpath
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError

SKILL_FILE = "SKILL.md"
MAX_FILES = 100
MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 5 * 1024 * 1024
MAX_PATH_CHARS = 255
# Text compresses 10:1 at most, in practice; a bomb compresses thousands to one.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_FROM_BYTES = 64 * 1024
MAX_NAME_CHARS = 64
MAX_FRONT_MATTER_CHARS = 16 * 1024
# A zip may carry what is left out (.git and the like), but not without end.
MAX_ZIP_BYTES = MAX_TOTAL_BYTES + 5 * 1024 * 1024
MAX_ZIP_ENTRIES = 10 * MAX_FILES
MAX_DESCRIPTION_CHARS = 1024
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$\n?", re.MULTILINE | re.DOTALL)
# Folders that tools and operating systems add and nobody means to import.
_IGNORED_PARTS = {"__MACOSX", ".git", "__pycache__", ".DS_Store"}


@dataclass(frozen=True)
class SkillMeta:
    name: str
    description: str
    requirements: list[str] = field(default_factory=list)
    body: str = ""


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


# --- Paths ------------------------------------------------------------------------------


def clean_path(raw: str) -> str:
    """A path inside the skill's folder, or ValidationError saying why not."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("A file path is empty.")
    path = raw.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ValidationError(f"“{raw}” is an absolute path; paths must be inside the skill.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"“{raw}” leaves the skill's folder (“..”).")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in path):
        # Cf holds the right-to-left overrides that make a name read as another.
        raise ValidationError(f"“{raw!r}” contains control or formatting characters.")
    cleaned = "/".join(parts)
    if not cleaned:
        raise ValidationError(f"“{raw}” is not a file path.")
    if len(cleaned) > MAX_PATH_CHARS:
        raise ValidationError(f"“{cleaned[:60]}…” is longer than {MAX_PATH_CHARS} characters.")
    return cleaned


def _ignored(path: str) -> bool:
    return any(part in _IGNORED_PARTS for part in path.split("/"))


def strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """``my-skill/SKILL.md`` and its siblings become ``SKILL.md``: zips and folder uploads
    usually carry the folder itself."""
    if SKILL_FILE in files:
        return files
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in path for path in files):
        top = tops.pop() + "/"
        return {path.removeprefix(top): data for path, data in files.items()}
    return files


# --- The whole folder -------------------------------------------------------------------


def check_files(files: dict[str, bytes]) -> tuple[dict[str, bytes], SkillMeta]:
    """The files with clean paths and their parsed SKILL.md; every problem at once."""
    problems: list[str] = []
    clean: dict[str, bytes] = {}
    # Two names one file system would take for one file (SKILL.md, skill.md) are refused.
    seen: dict[str, str] = {}
    for raw, data in files.items():
        try:
            path = clean_path(raw)
        except ValidationError as error:
            problems.extend(error.messages)
            continue
        folded = unicodedata.normalize("NFC", path).casefold()
        if folded in seen:
            problems.append(f"“{path}” and “{seen[folded]}” differ only in case or form.")
        seen[folded] = path
        clean[path] = data
    clean = strip_common_folder(clean)
    problems.extend(_size_problems(clean))
    if problems:
        raise ValidationError(problems)
    if SKILL_FILE not in clean:
        raise ValidationError(
            f"There is no {SKILL_FILE} at the top of the skill's folder: every skill needs one."
        )
    return clean, parse_skill_md(clean[SKILL_FILE])


def _size_problems(files: dict[str, bytes]) -> list[str]:
    problems = [
        f"“{path}” is {_mib(len(data))}; a skill file may be at most {_mib(MAX_FILE_BYTES)}."
        for path, data in files.items()
        if len(data) > MAX_FILE_BYTES
    ]
    if len(files) > MAX_FILES:
        problems.append(f"The skill has {len(files)} files; at most {MAX_FILES} are allowed.")
    total = sum(len(data) for data in files.values())
    if total > MAX_TOTAL_BYTES:
        problems.append(
            f"The skill's files add up to {_mib(total)}; at most {_mib(MAX_TOTAL_BYTES)}."
        )
    return problems


# --- SKILL.md ---------------------------------------------------------------------------


def parse_skill_md(data: bytes) -> SkillMeta:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{SKILL_FILE} is not UTF-8 text.") from None
    if text.startswith("---") and len(text.split("\n---", 1)[0]) > MAX_FRONT_MATTER_CHARS:
        raise ValidationError(
            f"{SKILL_FILE}'s front matter is over {MAX_FRONT_MATTER_CHARS:,} characters: keep "
            "the name, description and requirements there, the rest in the body."
        )
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ValidationError(
            f"{SKILL_FILE} has no front matter: it must start with a line “---”, then "
            "“name: …” and “description: …”, then a line “---”."
        )
    try:
        front = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 2})" if where else ""
        raise ValidationError(f"{SKILL_FILE}'s front matter is not valid YAML{line}.") from None
    if not isinstance(front, dict):
        raise ValidationError(f"{SKILL_FILE}'s front matter must be “key: value” lines.")
    return SkillMeta(
        name=_check_name(front.get("name")),
        description=_check_description(front.get("description")),
        requirements=_check_requirements(front.get("requirements")),
        body=text[match.end() :],
    )


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{SKILL_FILE}'s front matter has no “name”.")
    if len(name) > MAX_NAME_CHARS or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"The skill name “{name[:80]}” is not valid: use lowercase letters, digits and "
            f"single hyphens (e.g. data-analysis), at most {MAX_NAME_CHARS} characters."
        )
    return name


def _check_description(description) -> str:
    if not isinstance(description, str) or not description.strip():
        raise ValidationError(
            f"{SKILL_FILE}'s front matter has no “description” (what the skill does and "
            "when to use it)."
        )
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationError(
            f"The description has {len(description)} characters; at most {MAX_DESCRIPTION_CHARS}."
        )
    return description


def _check_requirements(requirements) -> list[str]:
    if requirements is None:
        return []
    if not isinstance(requirements, list) or not all(
        isinstance(r, str) and r.strip() for r in requirements
    ):
        raise ValidationError("“requirements” must be a list of package names, e.g. [pandas].")
    return [r.strip() for r in requirements]


# --- Zips -------------------------------------------------------------------------------


def read_zip(source) -> dict[str, bytes]:
    """The files of a zip (a path or a file object), checked before extraction."""
    size = _size_of(source)
    if size > MAX_ZIP_BYTES:
        raise ValidationError(
            f"The zip is {_mib(size)}; at most {_mib(MAX_ZIP_BYTES)} (leave out .git and "
            "other folders a skill does not need)."
        )
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ValidationError("The upload is not a valid zip file.") from None
    with archive:
        if len(archive.infolist()) > MAX_ZIP_ENTRIES:
            raise ValidationError(
                f"The zip holds {len(archive.infolist())} entries; at most {MAX_ZIP_ENTRIES}."
            )
        entries = [e for e in archive.infolist() if not e.is_dir() and not _ignored(e.filename)]
        _check_entries(entries)
        return {entry.filename: _extract(archive, entry) for entry in entries}


def _size_of(source) -> int:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    problems = []
    names = [entry.filename for entry in entries]
    twice = sorted({name for name in names if names.count(name) > 1})
    problems += [f"“{name}” appears twice in the zip." for name in twice]
    if len(entries) > MAX_FILES:
        raise ValidationError(f"The zip has {len(entries)} files; at most {MAX_FILES} are allowed.")
    for entry in entries:
        if stat.S_ISLNK(entry.external_attr >> 16):
            problems.append(f"“{entry.filename}” is a symbolic link; links are not allowed.")
        elif entry.file_size > MAX_FILE_BYTES:
            problems.append(
                f"“{entry.filename}” is {_mib(entry.file_size)} unpacked; a skill file may be "
                f"at most {_mib(MAX_FILE_BYTES)}."
            )
        elif _bomb(entry):
            problems.append(
                f"“{entry.filename}” unpacks {entry.file_size // max(entry.compress_size, 1)} "
                f"times its packed size (over {MAX_COMPRESSION_RATIO}x): refused as a zip bomb."
            )
    total = sum(entry.file_size for entry in entries)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"The zip unpacks to {_mib(total)}; at most {_mib(MAX_TOTAL_BYTES)}.")
    if problems:
        raise ValidationError(problems)


def _bomb(entry: zipfile.ZipInfo) -> bool:
    # Small files may compress well honestly (a page of one repeated line).
    big = entry.file_size > RATIO_CHECK_FROM_BYTES
    return big and entry.file_size > max(entry.compress_size, 1) * MAX_COMPRESSION_RATIO


def _extract(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    # The central directory's size may lie: never read past it.
    try:
        with archive.open(entry) as stream:
            data = stream.read(entry.file_size + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError):
        raise ValidationError(f"“{entry.filename}” could not be read from the zip.") from None
    if len(data) != entry.file_size:
        raise ValidationError(f"“{entry.filename}” is not the size the zip announces.")
    return data


def write_zip(name: str, files: dict[str, bytes]) -> bytes:
    """The skill as ``NAME/…``, the layout other tools import."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items()):
            archive.writestr(f"{name}/{path}", data)
    return buffer.getvalue()


# --- Folders on disk --------------------------------------------------------------------


def read_folder(root: Path) -> dict[str, bytes]:
    """A folder's files (for the import command), refusing links and oversized trees."""
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if _ignored(relative):
            continue
        if path.is_symlink():
            raise ValidationError(f"“{relative}” is a symbolic link; links are not allowed.")
        if not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        if len(files) >= MAX_FILES or size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise ValidationError(_folder_limit_message(relative, size, len(files) + 1, total))
        files[relative] = path.read_bytes()
    return files


def _folder_limit_message(path: str, size: int, count: int, total: int) -> str:
    if size > MAX_FILE_BYTES:
        return f"“{path}” is {_mib(size)}; a skill file may be at most {_mib(MAX_FILE_BYTES)}."
    if count > MAX_FILES:
        return f"The folder has more than {MAX_FILES} files; at most {MAX_FILES} are allowed."
    return f"The folder's files add up to more than {_mib(MAX_TOTAL_BYTES)}."


def is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def language_of(path: str) -> str:
    """highlight.js's name for the file's language ("" lets it guess)."""
    extension = posixpath.splitext(path)[1].lower()
    return {
        ".py": "python",
        ".md": "markdown",
        ".sh": "bash",
        ".json": "json",
        ".yaml": "yaml",
        ".yml": "yaml",
        ".csv": "plaintext",
        ".txt": "plaintext",
        ".html": "xml",
        ".sql": "sql",
        ".js": "javascript",
    }.get(extension, "")
