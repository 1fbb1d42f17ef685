import io
import zipfile

import pytest

from drive import rules
from drive.rules import FileSizeError, FileTypeError, PathError

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50 + b"PE\x00\x00"
MACH_O = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 24
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 20


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


XLSX = make_zip(
    {
        "[Content_Types].xml": b"<Types/>",
        "_rels/.rels": b"<Relationships/>",
        "xl/workbook.xml": b"<workbook/>",
        "xl/worksheets/sheet1.xml": b"<worksheet/>",
    }
)
PLAIN_ZIP = make_zip({"notes.txt": b"hello"})


def tar_header() -> bytes:
    header = bytearray(512)
    header[0:8] = b"data.csv"
    header[257:262] = b"ustar"
    return bytes(header)


# --- Paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/data/files/q4_sales.csv", "/data/files/q4_sales.csv"),
        ("//data///files//q4.csv", "/data/files/q4.csv"),
        ("/Données/été.csv", "/Données/été.csv"),
        ("/a b/c d.txt", "/a b/c d.txt"),
    ],
)
def test_it_normalizes_paths(raw, normalized):
    assert rules.normalize_path(raw) == normalized


def test_it_composes_decomposed_unicode_so_one_name_has_one_spelling():
    decomposed = "/cafe\u0301.txt"
    assert rules.normalize_path(decomposed) == "/caf\u00e9.txt"


@pytest.mark.parametrize(
    "raw",
    ["/a/../b.txt", "/a/../../etc/passwd", "/../etc/passwd", "/..", "/a/./b.txt", "/./b.txt"],
)
def test_it_refuses_dot_segments_instead_of_resolving_them(raw):
    with pytest.raises(PathError, match="is not allowed in a path"):
        rules.normalize_path(raw)


@pytest.mark.parametrize("raw", ["data/a.csv", "a.csv", "./a.csv", "../a.csv", "", " /a.csv"])
def test_it_refuses_relative_paths(raw):
    with pytest.raises(PathError, match="must be absolute"):
        rules.normalize_path(raw)


@pytest.mark.parametrize("raw", ["\\data\\a.csv", "/data\\a.csv", "/C:\\windows\\a.txt"])
def test_it_refuses_backslashes(raw):
    with pytest.raises(PathError, match="backslash"):
        rules.normalize_path(raw)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\n", "\r", "\t", "\x1b", "\x1f", "\x7f", "\x85"])
def test_it_refuses_control_characters(char):
    with pytest.raises(PathError, match=f"control characters \\(U\\+{ord(char):04X}\\)"):
        rules.normalize_path(f"/data/a{char}b.csv")


def test_it_refuses_bidi_overrides_that_disguise_extensions():
    with pytest.raises(PathError, match="U\\+202E"):
        rules.normalize_path("/invoice\u202efdp.txt")


@pytest.mark.parametrize(
    "char",
    [
        "\u200e",  # left-to-right mark
        "\u200f",  # right-to-left mark
        "\u061c",  # Arabic letter mark
        "\u200b",  # zero-width space
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # zero-width no-break space (byte order mark)
        "\u00ad",  # soft hyphen
        "\u2066",  # left-to-right isolate
        "\U000e0041",  # tag latin capital letter A
        "\u2028",  # line separator (Zl)
        "\u2029",  # paragraph separator (Zp)
    ],
)
def test_it_refuses_invisible_characters_naming_their_code_point(char):
    with pytest.raises(PathError) as refused:
        rules.normalize_path(f"/data/a{char}.csv")

    assert str(refused.value) == (
        f"paths cannot contain the invisible character U+{ord(char):04X}."
    )


@pytest.mark.parametrize("raw", ["/\u200f/", "/data/\u200b/", "/\ufeffdata/"])
def test_it_refuses_invisible_characters_in_folders(raw):
    with pytest.raises(PathError, match="invisible character U\\+"):
        rules.normalize_folder(raw)


def test_it_refuses_lone_surrogates():
    with pytest.raises(PathError, match="not valid Unicode"):
        rules.normalize_path("/a\ud800.txt")


def test_it_refuses_a_trailing_slash_for_a_file():
    with pytest.raises(PathError, match="cannot end with"):
        rules.normalize_path("/data/report.csv/")


def test_it_refuses_a_path_without_a_file_name():
    with pytest.raises(PathError):
        rules.normalize_path("/")


@pytest.mark.parametrize("raw", ["/ a.csv", "/a.csv ", "/data /a.csv", "/ data/a.csv"])
def test_it_refuses_leading_or_trailing_spaces_in_a_segment(raw):
    with pytest.raises(PathError, match="starts or ends with a space"):
        rules.normalize_path(raw)


def test_it_limits_each_segment_to_255_utf8_bytes():
    assert rules.normalize_path("/" + "a" * 251 + ".txt")
    with pytest.raises(PathError, match="longer than 255 bytes"):
        rules.normalize_path("/" + "a" * 252 + ".txt")
    # 128 two-byte characters are 256 bytes although only 128 characters.
    with pytest.raises(PathError, match="longer than 255 bytes"):
        rules.normalize_path("/" + "é" * 126 + ".txt")


def test_it_limits_the_whole_path_to_1024_bytes():
    folder = "/" + "d" * 200
    near_limit = folder * 4 + "/" + "f" * 210 + ".txt"  # 804 + 215 = 1019 bytes
    assert rules.normalize_path(near_limit) == near_limit
    with pytest.raises(PathError, match="longer than 1024 bytes"):
        rules.normalize_path(folder * 4 + "/" + "f" * 216 + ".txt")


def test_it_measures_the_limit_after_collapsing_slashes():
    raw = "/" * 1000 + "d" * 100 + "/a.txt"
    assert len(raw) > rules.MAX_PATH_BYTES
    assert rules.normalize_path(raw) == "/" + "d" * 100 + "/a.txt"


@pytest.mark.parametrize(
    ("raw", "folder"),
    [
        ("/", "/"),
        ("", None),
        ("/data", "/data/"),
        ("/data/files/", "/data/files/"),
        ("//x//", "/x/"),
    ],
)
def test_it_normalizes_folders_with_a_trailing_slash(raw, folder):
    if folder is None:
        with pytest.raises(PathError):
            rules.normalize_folder(raw)
    else:
        assert rules.normalize_folder(raw) == folder


def test_it_lists_parent_folders_of_a_file():
    assert rules.parent_folders("/a/b/c.txt") == ["/a", "/a/b"]
    assert rules.parent_folders("/c.txt") == []


# --- File types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "category", "content_type"),
    [
        ("notes.txt", "text and code", "text/plain"),
        ("q4_sales.csv", "text and code", "text/csv"),
        ("analysis.ipynb", "text and code", "application/json"),
        ("main.py", "text and code", "text/plain"),
        ("events.jsonl", "text and code", "application/x-ndjson"),
        ("page.html", "text and code", "text/html"),
        ("logo.svg", "images", "image/svg+xml"),
        ("photo.jpeg", "images", "image/jpeg"),
        ("scan.tif", "images", "image/tiff"),
        ("paper.pdf", "PDF", "application/pdf"),
        ("old.xls", "office documents", "application/vnd.ms-excel"),
        ("clip.mkv", "video", "video/x-matroska"),
        ("voice.m4a", "audio", "audio/mp4"),
    ],
)
def test_it_accepts_allowed_extensions_with_their_category_and_type(name, category, content_type):
    assert rules.check_file_type(name, b"") == rules.FileType(
        extension=name.rsplit(".", 1)[1], category=category, content_type=content_type
    )


def test_it_allows_thirty_text_and_code_extensions_and_seven_image_formats():
    assert len(rules.ALLOWED["text and code"]) >= 30
    image_types = set(rules.ALLOWED["images"].values())
    assert len(image_types) == 7


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("setup.exe", "executables"),
        ("lib.so", "executables"),
        ("libfoo.dylib", "executables"),
        ("installer.msi", "executables"),
        ("deploy.sh", "scripts"),
        ("run.bat", "scripts"),
        ("profile.ps1", "scripts"),
        ("macro.vbs", "scripts"),
        ("backup.zip", "archives"),
        ("dump.tar", "archives"),
        ("dump.tgz", "archives"),
        ("bundle.7z", "archives"),
        ("data.zst", "archives"),
        ("boot.ini", "system files"),
        ("nginx.conf", "system files"),
        ("app.plist", "system files"),
        ("web.service", "system files"),
    ],
)
def test_it_blocks_dangerous_extensions_naming_their_category(name, category):
    extension = name.rsplit(".", 1)[1]
    with pytest.raises(FileTypeError) as refused:
        rules.check_file_type(name, b"")
    expected = f"“.{extension}” files are {category}, which Drive does not accept."
    assert str(refused.value) == expected


@pytest.mark.parametrize("name", ["REPORT.CSV", "Photo.JPG", "Deck.PpTx", "clip.MP4"])
def test_it_reads_extensions_case_insensitively(name):
    assert rules.check_file_type(name, b"").extension == name.rsplit(".", 1)[1].lower()


def test_it_blocks_upper_case_dangerous_extensions():
    with pytest.raises(FileTypeError, match="executables"):
        rules.check_file_type("SETUP.EXE", b"")


@pytest.mark.parametrize(
    ("name", "category"),
    [("report.pdf.exe", "executables"), ("data.csv.zip", "archives"), ("a.txt.sh", "scripts")],
)
def test_it_judges_double_extensions_by_the_last_one(name, category):
    with pytest.raises(FileTypeError, match=category):
        rules.check_file_type(name, b"")


@pytest.mark.parametrize("name", ["model.safetensors", "font.woff2", "data.parquet"])
def test_it_refuses_unknown_extensions_listing_what_is_allowed(name):
    with pytest.raises(FileTypeError) as refused:
        rules.check_file_type(name, b"")
    message = str(refused.value)
    assert "is not a file type Drive accepts" in message
    for category in rules.ALLOWED:
        assert category in message
    assert ".csv" in message
    assert ".xlsx" in message


@pytest.mark.parametrize("name", ["Makefile", ".env", "/data/README", "trailing."])
def test_it_refuses_names_without_an_extension(name):
    with pytest.raises(FileTypeError, match="has no extension"):
        rules.check_file_type(name, b"")


def test_it_uses_the_last_segment_of_a_path():
    assert rules.check_file_type("/v1.2/notes.md", b"").category == "text and code"
    with pytest.raises(FileTypeError, match="has no extension"):
        rules.check_file_type("/v1.2/notes", b"")


# --- Sniffing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head"),
    [("notes.txt", ELF), ("photo.png", ELF), ("notes.txt", PE), ("data.csv", MACH_O)],
)
def test_it_refuses_executables_disguised_by_their_extension(name, head):
    extension = name.rsplit(".", 1)[1]
    with pytest.raises(FileTypeError) as refused:
        rules.check_file_type(name, head)
    assert str(refused.value) == f"the content looks like an executable, not a .{extension} file."


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("data.csv", PLAIN_ZIP),
        ("notes.txt", XLSX),
        ("photo.png", GZIP),
        ("data.csv", tar_header()),
        ("paper.pdf", PLAIN_ZIP),
    ],
)
def test_it_refuses_archives_disguised_by_their_extension(name, head):
    with pytest.raises(FileTypeError, match="content looks like an archive, not a"):
        rules.check_file_type(name, head)


@pytest.mark.parametrize(("name", "head"), [("book.xlsx", XLSX), ("deck.pptx", PLAIN_ZIP)])
def test_it_accepts_zip_content_for_office_documents(name, head):
    assert rules.check_file_type(name, head).category == "office documents"


def test_it_still_refuses_executables_named_as_office_documents():
    with pytest.raises(FileTypeError, match="executable"):
        rules.check_file_type("book.xlsx", PE)


def test_it_accepts_a_png_named_png():
    assert rules.check_file_type("chart.png", PNG).content_type == "image/png"


def test_it_accepts_text_that_merely_starts_with_executable_letters():
    assert rules.check_file_type("ids.csv", b"MZ,Mozambique\nPK,Pakistan\n").extension == "csv"


def test_it_accepts_empty_files():
    assert rules.check_file_type("empty.txt", b"").extension == "txt"


# --- Size --------------------------------------------------------------------------------


def test_it_accepts_files_up_to_the_limit():
    rules.check_size(0, 10)
    rules.check_size(10, 10)


def test_it_names_the_limit_in_megabytes():
    with pytest.raises(FileSizeError) as refused:
        rules.check_size(100 * rules.MB + 1, 100 * rules.MB)
    assert str(refused.value) == "the file is larger than the 100 MB limit."


def test_it_spells_out_limits_below_a_megabyte():
    with pytest.raises(FileSizeError, match=r"0\.000954 MB \(1,000 bytes\)"):
        rules.check_size(1001, 1000)
