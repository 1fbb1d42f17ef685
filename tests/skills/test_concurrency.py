"""Races only a real multi-connection database shows."""

import pytest
from django.core.exceptions import ValidationError

from skills import services
from skills.models import Skill
from tests.conftest import postgres_only, run_at_once
from tests.skills.helpers import skill_files

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]


@pytest.mark.parametrize("repeat", range(4))
def test_two_saves_at_once_make_two_versions(team, repeat):
    skill = services.skill_import(workspace=team.workspace, files=skill_files(), created_by=None)

    def saving(path: str):
        return lambda: services.skill_file_save(skill=skill, path=path, content=b"x", saved_by=None)

    outcomes = run_at_once(saving("a.txt"), saving("b.txt"), refusals=())

    assert outcomes == ["ok", "ok"]
    latest = skill.versions.order_by("-number").first()
    assert sorted(skill.versions.values_list("number", flat=True)) == [1, 2, 3]
    assert {"a.txt", "b.txt"} <= set(latest.files.values_list("path", flat=True))


@pytest.mark.parametrize("repeat", range(4))
def test_the_same_name_imported_twice_at_once_makes_one_skill(team, repeat):
    def importing():
        services.skill_import(workspace=team.workspace, files=skill_files(), created_by=None)

    outcomes = run_at_once(importing, importing, refusals=(ValidationError,))

    assert outcomes.count("ok") == 1
    [refusal] = [o for o in outcomes if o != "ok"]
    assert "already exists" in refusal.messages[0]
    assert Skill.objects.filter(workspace=team.workspace).count() == 1
