"""Importing, versioning and attaching skills."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent
from skills import services
from skills.models import AgentSkill, Skill
from skills.selectors import agent_skills, skill_latest_version, version_contents
from tests.skills.helpers import RUN_PY, SKILL_MD, skill_files, skill_md


@pytest.fixture
def skill(team) -> Skill:
    return services.skill_import(
        workspace=team.workspace, files=skill_files(), created_by=team.admin
    )


@pytest.fixture
def agent(team) -> Agent:
    return Agent.objects.create(workspace=team.workspace, name="Analyst", created_by=team.admin)


def test_an_import_makes_the_skill_and_its_first_version(skill):
    version = skill_latest_version(skill=skill)
    assert (skill.name, version.number, version.requirements) == ("sales-helper", 1, ["pandas"])
    assert version_contents(version=version) == skill_files()


def test_it_refuses_a_duplicate_name_in_the_same_workspace_only(skill, team, other_team):
    with pytest.raises(ValidationError, match="already exists in this workspace"):
        services.skill_import(workspace=team.workspace, files=skill_files(), created_by=None)
    other = services.skill_import(
        workspace=other_team.workspace, files=skill_files(), created_by=None
    )
    assert other.name == skill.name and other.workspace != skill.workspace


def test_each_save_is_a_new_version_and_old_ones_stay(skill, team):
    services.skill_file_save(
        skill=skill, path="examples/run.py", content=b"print(2)\n", saved_by=team.admin
    )
    services.skill_file_save(skill=skill, path="notes.txt", content=b"hi", saved_by=None)
    versions = {v.number: v for v in skill.versions.all()}
    assert sorted(versions) == [1, 2, 3]
    assert version_contents(version=versions[1])["examples/run.py"] == RUN_PY
    assert version_contents(version=versions[3])["examples/run.py"] == b"print(2)\n"
    assert [versions[n].note for n in (2, 3)] == ["Edited examples/run.py", "Added notes.txt"]


def test_editing_skill_md_updates_the_description_but_never_the_name(skill):
    new = skill_md(name="sales-helper", description="A better description.")
    services.skill_file_save(skill=skill, path="SKILL.md", content=new, saved_by=None)
    skill.refresh_from_db()
    assert skill.description == "A better description."
    with pytest.raises(ValidationError, match="must stay “sales-helper”"):
        services.skill_file_save(
            skill=skill, path="SKILL.md", content=skill_md(name="renamed"), saved_by=None
        )
    with pytest.raises(ValidationError, match="has no front matter"):
        services.skill_file_save(skill=skill, path="SKILL.md", content=b"oops", saved_by=None)
    assert skill.versions.count() == 2, "a refused save makes no version"


def test_a_saved_path_that_leaves_the_folder_is_refused(skill):
    with pytest.raises(ValidationError, match="leaves the skill's folder"):
        services.skill_file_save(skill=skill, path="../x.py", content=b"", saved_by=None)


def test_files_can_be_deleted_but_not_skill_md(skill):
    services.skill_file_delete(skill=skill, path="data/sales.csv", deleted_by=None)
    assert "data/sales.csv" not in version_contents(version=skill_latest_version(skill=skill))
    with pytest.raises(ValidationError, match="cannot be deleted"):
        services.skill_file_delete(skill=skill, path="SKILL.md", deleted_by=None)


def test_an_agent_follows_the_latest_version_or_stays_pinned(skill, agent):
    services.agent_skills_set(agent=agent, choices={skill.pk: None})
    services.skill_file_save(skill=skill, path="notes.txt", content=b"v2", saved_by=None)
    assert [a.version.number for a in agent_skills(agent=agent)] == [2]
    services.agent_skills_set(agent=agent, choices={skill.pk: 1})
    assert [(a.version.number, a.pinned) for a in agent_skills(agent=agent)] == [(1, True)]
    services.agent_skills_set(agent=agent, choices={})
    assert agent_skills(agent=agent) == []


def test_another_workspaces_skill_cannot_be_attached(agent, other_team):
    foreign = services.skill_import(
        workspace=other_team.workspace, files={"SKILL.md": SKILL_MD}, created_by=None
    )
    with pytest.raises(ValidationError, match="do not exist in this workspace"):
        services.agent_skills_set(agent=agent, choices={foreign.pk: None})
    assert not AgentSkill.objects.exists()


def test_a_pin_to_a_missing_version_is_refused(skill, agent):
    with pytest.raises(ValidationError, match="has no version 9"):
        services.agent_skills_set(agent=agent, choices={skill.pk: 9})


def test_the_shipped_examples_import_once(team):
    first = services.example_skills_import(workspace=team.workspace, created_by=None)
    again = services.example_skills_import(workspace=team.workspace, created_by=None)
    names = [s.name for s in first]
    assert names == ["csv-to-json", "data-analysis-toolkit", "report-generation"]
    assert [s.pk for s in again] == [s.pk for s in first]
    analysis = version_contents(version=skill_latest_version(skill=first[1]))
    assert {"SKILL.md", "examples/sales-analysis.py", "data/sales.csv"} <= set(analysis)


def test_creating_a_skill_in_the_browser_gives_a_valid_folder(team):
    skill = services.skill_create(
        workspace=team.workspace,
        name="csv-cleanup",
        description="Cleans CSVs: trims cells. Use it for messy exports.",
        created_by=team.admin,
    )
    assert skill.description == "Cleans CSVs: trims cells. Use it for messy exports."
    assert set(version_contents(version=skill_latest_version(skill=skill))) == {
        "SKILL.md",
        "examples/example.py",
    }


def test_an_import_over_a_skill_makes_a_new_version_and_says_what_differs(skill, team):
    files = skill_files(**{"examples/run.py": b"print(3)\n", "notes.txt": b"new"})
    del files["data/sales.csv"]
    result = services.skill_import_or_update(
        workspace=team.workspace, files=files, created_by=team.admin, note="Imported from x.zip"
    )
    assert (result.skill, result.version, result.created) == (skill, 2, False)
    assert (result.changed, result.added, result.removed) == (
        ["examples/run.py"], ["notes.txt"], ["data/sales.csv"]
    )  # fmt: skip
    assert result.summary() == (
        "Skill “sales-helper” updated to version 2: changed examples/run.py; "
        "added notes.txt; removed data/sales.csv."
    )
    latest = skill_latest_version(skill=skill)
    assert version_contents(version=latest) == files
    assert latest.note.startswith("Imported from x.zip: changed examples/run.py")


def test_the_same_files_again_make_no_version(skill, team):
    result = services.skill_import_or_update(
        workspace=team.workspace, files=skill_files(), created_by=None
    )
    assert result.unchanged and result.version == 1
    assert result.summary() == "Skill “sales-helper” is unchanged: version 1 has the same files."
    assert skill.versions.count() == 1


def test_an_agent_pinned_to_the_old_version_keeps_it_after_an_update(skill, team, agent):
    services.agent_skills_set(agent=agent, choices={skill.pk: 1})
    services.skill_import_or_update(
        workspace=team.workspace,
        files=skill_files(**{"examples/run.py": b"print(3)\n"}),
        created_by=None,
    )
    (attached,) = agent_skills(agent=agent)
    assert (attached.version.number, attached.pinned) == (1, True)


def test_an_update_touches_only_its_own_workspace(skill, team, other_team):
    result = services.skill_import_or_update(
        workspace=other_team.workspace, files=skill_files(), created_by=None
    )
    assert result.created and result.skill != skill
    assert result.summary() == "Skill “sales-helper” imported."
    assert skill.versions.count() == 1


def test_an_update_with_a_broken_folder_changes_nothing(skill, team):
    with pytest.raises(ValidationError):
        services.skill_import_or_update(
            workspace=team.workspace, files={"notes.txt": b"no SKILL.md"}, created_by=None
        )
    assert skill.versions.count() == 1
