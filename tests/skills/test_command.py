"""python manage.py import_skill: a folder or a zip, with the browser's checks."""

import pytest
from django.core.management import CommandError, call_command

from skills.models import Skill
from skills.services import EXAMPLES_DIR
from tests.skills.helpers import make_zip, skill_files


def test_it_imports_a_folder(team, capsys):
    call_command("import_skill", "--workspace", "acme", str(EXAMPLES_DIR / "csv-to-json"))
    assert "Skill “csv-to-json” imported. (workspace acme)" in capsys.readouterr().out
    assert Skill.objects.get(workspace=team.workspace).name == "csv-to-json"


def test_it_imports_a_zip(team, tmp_path):
    archive = tmp_path / "sales.zip"
    archive.write_bytes(make_zip(skill_files(), folder="sales-helper/"))
    call_command("import_skill", "--workspace", "acme", str(archive))
    assert Skill.objects.get(workspace=team.workspace).name == "sales-helper"


def test_it_refuses_with_the_reasons(team, tmp_path):
    (tmp_path / "SKILL.md").write_text("---\nname: Bad Name\ndescription: x\n---\n")
    with pytest.raises(CommandError, match="The skill name “Bad Name” is not valid"):
        call_command("import_skill", "--workspace", "acme", str(tmp_path))
    with pytest.raises(CommandError, match="There is no workspace “nope”"):
        call_command("import_skill", "--workspace", "nope", str(tmp_path))
    with pytest.raises(CommandError, match="neither a folder nor a zip"):
        call_command("import_skill", "--workspace", "acme", str(tmp_path / "missing"))
    assert not Skill.objects.exists()


def test_update_makes_a_new_version_and_without_it_an_existing_skill_is_refused(
    team, tmp_path, capsys
):
    archive = tmp_path / "sales.zip"
    archive.write_bytes(make_zip(skill_files(), folder="sales-helper/"))
    call_command("import_skill", "--workspace", "acme", str(archive))
    archive.write_bytes(make_zip(skill_files(**{"notes.txt": b"hi"}), folder="sales-helper/"))
    with pytest.raises(CommandError, match="already exists in this workspace"):
        call_command("import_skill", "--workspace", "acme", str(archive))
    call_command("import_skill", "--workspace", "acme", "--update", str(archive))
    assert "updated to version 2: added notes.txt." in capsys.readouterr().out
    call_command("import_skill", "--workspace", "acme", "--update", str(archive))
    assert "is unchanged: version 2 has the same files." in capsys.readouterr().out
    assert Skill.objects.get(workspace=team.workspace).versions.count() == 2
