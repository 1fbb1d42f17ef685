"""Reading and checking skill folders: every invalid import is refused with its reason,
before anything is extracted."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError

from skills import bundle
from tests.skills.helpers import SKILL_MD, make_zip, skill_files, skill_md


def errors_of(call, *args) -> str:
    with pytest.raises(ValidationError) as caught:
        call(*args)
    return " ".join(caught.value.messages)


def test_it_reads_a_valid_skill_with_its_front_matter():
    files, meta = bundle.check_files(skill_files())
    assert set(files) == {"SKILL.md", "examples/run.py", "data/sales.csv"}
    assert meta.name == "sales-helper"
    assert meta.description == "Summarise sales CSVs. Use it for revenue questions."
    assert meta.requirements == ["pandas"]
    assert meta.body.startswith("\n# Sales helper")


def test_an_anthropic_style_zip_with_its_folder_imports_unchanged():
    anthropic_md = (
        b"---\nname: pdf-tools\ndescription: Extract text and tables from PDF files. "
        b"Use when working with PDFs.\nlicense: Complete terms in LICENSE.txt\n---\n\n# PDF\n"
    )
    data = make_zip(
        {"SKILL.md": anthropic_md, "scripts/extract.py": b"print(1)\n", "LICENSE.txt": b"MIT"},
        folder="pdf-tools/",
    )
    files, meta = bundle.check_files(bundle.read_zip(_file(data)))
    assert set(files) == {"SKILL.md", "scripts/extract.py", "LICENSE.txt"}
    assert files["SKILL.md"] == anthropic_md
    assert meta.name == "pdf-tools"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"README.md": b"hi"}, "There is no SKILL.md"),
        ({"SKILL.md": b"# Just a title\n"}, "has no front matter"),
        ({"SKILL.md": b"---\nname: [unclosed\n---\n"}, "not valid YAML"),
        ({"SKILL.md": b"---\n- a list\n---\n"}, "must be “key: value” lines"),
        ({"SKILL.md": b"---\ndescription: Something.\n---\n"}, "has no “name”"),
        ({"SKILL.md": skill_md(name="Sales_Helper")}, "is not valid: use lowercase"),
        ({"SKILL.md": skill_md(name="a" * 65)}, "is not valid"),
        ({"SKILL.md": b"---\nname: ok\n---\n"}, "has no “description”"),
        ({"SKILL.md": skill_md(description="x" * 1025)}, "at most 1024"),
        ({"SKILL.md": b"---\nname: ok\ndescription: d\nrequirements: pandas\n---\n"}, "list"),
        ({"SKILL.md": b"\xff\xfe---"}, "not UTF-8"),
        ({"SKILL.md": SKILL_MD, "../escape.py": b"x"}, "leaves the skill's folder"),
        ({"SKILL.md": SKILL_MD, "/etc/passwd": b"x"}, "is an absolute path"),
        ({"SKILL.md": SKILL_MD, "C:/win.py": b"x"}, "is an absolute path"),
        ({"SKILL.md": SKILL_MD, "big.bin": b"\0" * (bundle.MAX_FILE_BYTES + 1)}, "at most 1 MiB"),
        (
            {"SKILL.md": SKILL_MD} | {f"f{i}.txt": b"x" for i in range(bundle.MAX_FILES)},
            f"at most {bundle.MAX_FILES} are allowed",
        ),
        (
            {"SKILL.md": SKILL_MD} | {f"f{i}": b"\0" * bundle.MAX_FILE_BYTES for i in range(6)},
            "add up to",
        ),
        ({"SKILL.md": SKILL_MD, "skill.md": b"x"}, "differ only in case or form"),
        ({"SKILL.md": SKILL_MD, "caf\u00e9.py": b"x", "cafe\u0301.py": b"y"}, "differ only"),
        ({"SKILL.md": SKILL_MD, "run\u202egnp.py": b"x"}, "control or formatting characters"),
        ({"SKILL.md": SKILL_MD, "run\x85.py": b"x"}, "control or formatting characters"),
        (
            {"SKILL.md": b"---\nname: ok\ndescription: " + b"x" * 20_000 + b"\n---\n"},
            "front matter is over 16,384 characters",
        ),
    ],
)
def test_it_refuses_each_invalid_folder_with_its_reason(files, message):
    assert message in errors_of(bundle.check_files, files)


def test_it_refuses_a_zip_with_a_symlink():
    data = make_zip(skill_files(), symlinks={"examples/secrets": "/etc/shadow"})
    assert "is a symbolic link" in errors_of(bundle.read_zip, _file(data))


def test_it_refuses_a_zip_bomb_from_its_directory_before_extracting(monkeypatch):
    data = make_zip({"SKILL.md": SKILL_MD, "zeros.txt": b"\0" * (900 * 1024)})
    extracted = []
    monkeypatch.setattr(bundle, "_extract", lambda *args: extracted.append(args))
    assert "refused as a zip bomb" in errors_of(bundle.read_zip, _file(data))
    assert extracted == []


def test_it_refuses_a_zip_whose_files_would_be_too_large_before_extracting(monkeypatch):
    data = make_zip({"SKILL.md": SKILL_MD, "huge.txt": bytes(range(256)) * 8200})
    monkeypatch.setattr(bundle, "_extract", pytest.fail)
    assert "unpacked; a skill file may be at most 1 MiB" in errors_of(bundle.read_zip, _file(data))


def test_it_refuses_a_zip_with_too_many_files():
    data = make_zip({f"f{i}.txt": b"x" for i in range(bundle.MAX_FILES + 1)})
    assert f"at most {bundle.MAX_FILES} are allowed" in errors_of(bundle.read_zip, _file(data))


def test_it_refuses_a_zip_that_lies_about_a_file_size():
    data = bytearray(make_zip({"SKILL.md": SKILL_MD}))
    # The central directory's uncompressed size field (offset 24 in its entry).
    directory = data.rfind(b"PK\x01\x02")
    data[directory + 24 : directory + 28] = (5).to_bytes(4, "little")
    # Extraction stops at the announced size, and the cut file fails its checksum.
    assert errors_of(bundle.read_zip, _file(bytes(data))) == (
        "“SKILL.md” could not be read from the zip."
    )


def test_it_refuses_what_is_not_a_zip():
    assert "not a valid zip file" in errors_of(bundle.read_zip, _file(b"just text"))


def test_zip_paths_that_leave_the_folder_are_refused():
    data = make_zip({"SKILL.md": SKILL_MD, "../../evil.py": b"x"})
    files = bundle.read_zip(_file(data))
    assert "leaves the skill's folder" in errors_of(bundle.check_files, files)


def test_a_folder_with_a_symlink_is_refused(tmp_path):
    (tmp_path / "SKILL.md").write_bytes(SKILL_MD)
    (tmp_path / "link").symlink_to("/etc/passwd")
    assert "is a symbolic link" in errors_of(bundle.read_folder, tmp_path)


def test_export_round_trips(tmp_path):
    exported = bundle.write_zip("sales-helper", skill_files())
    with zipfile.ZipFile(_file(exported)) as archive:
        assert "sales-helper/SKILL.md" in archive.namelist()
    files, meta = bundle.check_files(bundle.read_zip(_file(exported)))
    assert files == skill_files() and meta.name == "sales-helper"


def _file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def test_it_refuses_a_zip_with_the_same_name_twice():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SKILL.md", SKILL_MD)
        archive.writestr("examples/run.py", b"print('first')")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("examples/run.py", b"print('second')")
    assert "“examples/run.py” appears twice in the zip." in errors_of(
        bundle.read_zip, _file(buffer.getvalue())
    )


def test_it_refuses_a_zip_too_large_to_be_a_skill_before_opening_it(monkeypatch):
    opened = []
    monkeypatch.setattr(bundle.zipfile, "ZipFile", lambda *a: opened.append(a))
    oversized = _file(b"\0" * (bundle.MAX_ZIP_BYTES + 1))
    assert "leave out .git" in errors_of(bundle.read_zip, oversized)
    assert opened == []


def test_it_refuses_a_zip_of_too_many_entries_even_if_they_are_left_out():
    entries = {f".git/objects/{i}": b"" for i in range(bundle.MAX_ZIP_ENTRIES + 1)}
    data = make_zip({"SKILL.md": SKILL_MD} | entries)
    assert f"at most {bundle.MAX_ZIP_ENTRIES}" in errors_of(bundle.read_zip, _file(data))
