"""What Drive accepts: path rules, the file-type allowlist, content sniffing and size.

Pure functions over strings and bytes, no Django and no I/O, so that browser uploads
and (later) sandbox file transfers apply exactly the same rules. Every refusal raises a
``RuleError`` (a ``ValueError``) whose message can be shown to a person as is.
"""

import unicodedata
from dataclasses import dataclass

import filetype

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# check_file_type wants this many leading bytes (what filetype itself inspects).
SNIFF_BYTES = 8192
MB = 1024 * 1024


class RuleError(ValueError):
    """Base of every refusal in this module."""


class PathError(RuleError):
    pass


class FileTypeError(RuleError):
    pass


class FileSizeError(RuleError):
    pass


@dataclass(frozen=True)
class FileType:
    extension: str
    category: str
    content_type: str


def _types(content_type: str, *extensions: str) -> dict[str, str]:
    return dict.fromkeys(extensions, content_type)


TEXT_TYPES = {
    **_types("text/plain", "txt", "log", "rst", "tex", "r", "rb", "go", "rs", "java", "c", "h"),
    **_types("text/plain", "cpp", "hpp", "cs", "php", "swift", "kt", "scala", "lua", "pl"),
    **_types("text/plain", "py", "ts", "tsx", "jsx", "sql", "toml", "yaml", "yml"),
    **_types("text/markdown", "md"),
    **_types("text/javascript", "js"),
    **_types("application/json", "json", "ipynb"),
    **_types("application/x-ndjson", "jsonl", "ndjson"),
    **_types("text/csv", "csv"),
    **_types("text/tab-separated-values", "tsv"),
    **_types("application/xml", "xml"),
    **_types("text/html", "html", "htm"),
    **_types("text/css", "css"),
}
ALLOWED: dict[str, dict[str, str]] = {
    "text and code": TEXT_TYPES,
    "images": {
        **_types("image/png", "png"),
        **_types("image/jpeg", "jpg", "jpeg"),
        **_types("image/gif", "gif"),
        **_types("image/webp", "webp"),
        **_types("image/bmp", "bmp"),
        **_types("image/tiff", "tif", "tiff"),
        # SVG can carry script: Drive only ever serves it as an attachment.
        **_types("image/svg+xml", "svg"),
    },
    "PDF": _types("application/pdf", "pdf"),
    "office documents": {
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xls": "application/vnd.ms-excel",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    },
    "video": {
        **_types("video/mp4", "mp4"),
        **_types("video/webm", "webm"),
        **_types("video/quicktime", "mov"),
        **_types("video/x-msvideo", "avi"),
        **_types("video/x-matroska", "mkv"),
    },
    "audio": {
        **_types("audio/mpeg", "mp3"),
        **_types("audio/wav", "wav"),
        **_types("audio/ogg", "ogg"),
        **_types("audio/mp4", "m4a"),
        **_types("audio/flac", "flac"),
        **_types("audio/aac", "aac"),
    },
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


BLOCKED: dict[str, frozenset[str]] = {
    "executables": _words("exe dll so dylib bin msi elf app com scr jar apk deb rpm wasm"),
    "scripts": _words("sh bash zsh fish ksh csh bat cmd ps1 psm1 vbs vbe wsf"),
    "archives": _words("zip tar gz tgz bz2 xz txz 7z rar zst lz lz4 cab iso dmg"),
    "system files": _words("sys ini conf cfg reg plist service drv"),
}
# Office formats that pandas/openpyxl read; their xlsx/docx/pptx kinds are ZIP packages
# and exports named .xls are often xlsx in disguise, so ZIP content is expected for all four.
OFFICE_EXTENSIONS = frozenset(ALLOWED["office documents"])
ZIP_KINDS = frozenset({"zip", "epub", "docx", "xlsx", "pptx", "odt", "ods", "odp"})
ARCHIVE_KINDS = ZIP_KINDS | {
    "tar", "gz", "bz2", "7z", "xz", "zst", "rar", "br", "lz", "lz4", "lzo", "Z",
    "ar", "deb", "rpm", "cab", "crx",
}  # fmt: skip
# Format characters (Cf) are invisible: text-direction marks and overrides can make
# "txt.exe" read as "exe.txt", zero-width ones make two names that look alike differ.
# Line and paragraph separators (Zl, Zp) break a name over lines wherever it is shown.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})
EXECUTABLE_MAGIC = frozenset(
    {
        b"\x7fELF",  # Linux ELF
        b"\x00asm",  # WebAssembly
        b"\xca\xfe\xba\xbe",  # Mach-O universal (and Java classes)
        b"\xfe\xed\xfa\xce",  # Mach-O 32/64-bit, both byte orders
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    }
)


# --- Paths -------------------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """The canonical form of a file path: ``/data/files/q4_sales.csv``."""
    segments = _segments(path)
    if path.endswith("/"):
        raise PathError("a file path cannot end with “/”.")
    if not segments:
        raise PathError("the path has no file name.")
    return "/" + "/".join(segments)


def normalize_folder(path: str) -> str:
    """The canonical form of a folder: ``/`` or ``/data/files/`` (always a trailing slash)."""
    return "/" + "".join(f"{segment}/" for segment in _segments(path))


def parent_folders(path: str) -> list[str]:
    """Every folder above a normalized file path, outermost first, without ``/``."""
    segments = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(segments[: i + 1]) for i in range(len(segments))]


def _segments(path: str) -> list[str]:
    if not isinstance(path, str):
        raise PathError("the path must be text.")
    # One spelling per name: macOS sends decomposed (NFD) file names, browsers composed.
    path = unicodedata.normalize("NFC", path)
    _check_characters(path)
    if not path.startswith("/"):
        raise PathError(f"paths must be absolute, starting with “/” (got “{path}”).")
    segments = [segment for segment in path.split("/") if segment]
    for segment in segments:
        _check_segment(segment)
    if _utf8_length("/" + "/".join(segments)) > MAX_PATH_BYTES:
        raise PathError(f"the path is longer than {MAX_PATH_BYTES} bytes.")
    return segments


def _check_characters(path: str) -> None:
    if "\\" in path:
        raise PathError("paths cannot contain a backslash (“\\”); use “/” between folders.")
    for char in path:
        category = unicodedata.category(char)
        if category == "Cc":
            raise PathError(f"paths cannot contain control characters (U+{ord(char):04X}).")
        if category in INVISIBLE_CATEGORIES:
            raise PathError(f"paths cannot contain the invisible character U+{ord(char):04X}.")
    _utf8_length(path)


def _check_segment(segment: str) -> None:
    if segment in {".", ".."}:
        raise PathError(f"“{segment}” is not allowed in a path.")
    if segment != segment.strip():
        raise PathError(f"“{segment}” starts or ends with a space.")
    if _utf8_length(segment) > MAX_SEGMENT_BYTES:
        raise PathError(f"a file or folder name is longer than {MAX_SEGMENT_BYTES} bytes.")


def _utf8_length(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathError("the path is not valid Unicode text.") from None


# --- File types --------------------------------------------------------------------------


def extension_of(name: str) -> str:
    """Lower-cased last extension of a file name or path; "" when it has none."""
    base = name.rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem else ""


def known_type(name: str) -> FileType | None:
    """The allowed type a name's extension claims, without looking at content."""
    extension = extension_of(name)
    for category, types in ALLOWED.items():
        if extension in types:
            return FileType(extension, category, types[extension])
    return None


def check_file_type(name: str, head: bytes) -> FileType:
    """Accept a file by its extension, then make sure its first bytes do not disagree.

    ``head`` is the start of the content (``SNIFF_BYTES`` is enough)."""
    extension = extension_of(name)
    for category, extensions in BLOCKED.items():
        if extension in extensions:
            raise FileTypeError(
                f"“.{extension}” files are {category}, which Drive does not accept."
            )
    file_type = known_type(name)
    if file_type is None:
        raise FileTypeError(f"{_unknown(extension)} Drive accepts {allowed_summary()}.")
    real_kind = _dangerous_kind(head, extension)
    if real_kind:
        raise FileTypeError(f"the content looks like {real_kind}, not a .{extension} file.")
    return file_type


def allowed_extensions() -> list[str]:
    return [extension for types in ALLOWED.values() for extension in types]


def allowed_summary() -> str:
    return "; ".join(
        f"{category} ({', '.join('.' + e for e in types)})" for category, types in ALLOWED.items()
    )


def _unknown(extension: str) -> str:
    if not extension:
        return "the file name has no extension (such as .csv or .pdf)."
    return f"“.{extension}” is not a file type Drive accepts."


def _dangerous_kind(head: bytes, extension: str) -> str | None:
    if _is_executable(head):
        return "an executable"
    kind = filetype.guess(bytes(head)) if head else None
    if kind is None or kind.extension not in ARCHIVE_KINDS:
        return None
    if extension in OFFICE_EXTENSIONS and kind.extension in ZIP_KINDS:
        return None
    return "an archive"


def _is_executable(head: bytes) -> bool:
    if head[:4] in EXECUTABLE_MAGIC:
        return True
    # A DOS/PE header starts "MZ" and is full of zero bytes; text that merely starts
    # with "MZ" (a CSV column, say) has none.
    return head[:2] == b"MZ" and b"\x00" in head[2:64]


# --- Size --------------------------------------------------------------------------------


def check_size(size: int, limit: int) -> None:
    if size > limit:
        raise FileSizeError(size_limit_message(limit))


def size_limit_message(limit: int) -> str:
    return f"the file is larger than the {format_megabytes(limit)} limit."


def format_megabytes(size: int) -> str:
    megabytes = size / MB
    if megabytes >= 1 and megabytes == int(megabytes):
        return f"{int(megabytes)} MB"
    return f"{megabytes:.3g} MB ({size:,} bytes)"
