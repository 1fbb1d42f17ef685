"""The skill browser and reader: only the agent's own attached skills, nothing else."""

import pytest

from agents.models import Agent
from agents.tools import skills as tools
from agents.tools.types import ToolCallRequest
from skills import services
from tests.skills.helpers import skill_files, skill_md


@pytest.fixture
def agent(team) -> Agent:
    return Agent.objects.create(workspace=team.workspace, name="Analyst")


@pytest.fixture
def attached(team, agent):
    skill = services.skill_import(workspace=team.workspace, files=skill_files(), created_by=None)
    services.agent_skills_set(agent=agent, choices={skill.pk: None})
    return skill


def call(agent, name: str, **arguments):
    return tools.answer_sync(
        agent=agent, call=ToolCallRequest(id="c1", name=name, arguments=arguments)
    )


def read(agent, skill: str, path: str):
    return call(agent, tools.READ, skill=skill, path=path)


def test_an_agent_without_skills_gets_no_skill_tools_and_no_note(agent):
    assert tools.specs_for(agent=agent) == []
    assert tools.skills_note(agent=agent) == ""


def test_the_browser_lists_only_attached_skills_with_their_files(team, agent, attached):
    services.skill_import(
        workspace=team.workspace, files={"SKILL.md": skill_md(name="unattached")}, created_by=None
    )
    outcome = call(agent, tools.LIST)
    assert outcome.status == "ok"
    assert "sales-helper (version 1): Summarise sales CSVs." in outcome.result
    assert "examples/run.py" in outcome.result and "requirements: pandas" in outcome.result
    assert "unattached" not in outcome.result
    assert [s.name for s in tools.specs_for(agent=agent)] == [tools.LIST, tools.READ]


def test_the_note_names_skills_and_descriptions_but_no_files(agent, attached):
    note = tools.skills_note(agent=agent)
    assert "- sales-helper: Summarise sales CSVs. Use it for revenue questions." in note
    assert "examples/run.py" not in note and "Read examples" not in note


def test_the_reader_returns_one_file_of_an_attached_skill(agent, attached):
    outcome = read(agent, "sales-helper", "examples/run.py")
    assert outcome.status == "ok"
    assert outcome.result == (
        "status: ok\nsales-helper/examples/run.py:\n"
        'import pandas as pd\nprint("rows", len(pd.read_csv("data/sales.csv")))\n'
    )


def test_the_reader_refuses_an_unattached_skill_of_the_same_workspace(team, agent, attached):
    services.skill_import(
        workspace=team.workspace, files={"SKILL.md": skill_md(name="secret")}, created_by=None
    )
    outcome = read(agent, "secret", "SKILL.md")
    assert outcome.status == "error"
    assert "There is no skill named 'secret' among yours (sales-helper)" in outcome.result


def test_another_workspaces_skill_is_invisible(agent, attached, other_team):
    other = Agent.objects.create(workspace=other_team.workspace, name="Spy")
    foreign = services.skill_import(
        workspace=other_team.workspace,
        files={"SKILL.md": skill_md(name="foreign")},
        created_by=None,
    )
    services.agent_skills_set(agent=other, choices={foreign.pk: None})
    assert "foreign" not in call(agent, tools.LIST).result
    assert read(agent, "foreign", "SKILL.md").status == "error"
    assert "sales-helper" not in call(other, tools.LIST).result
    assert read(other, "sales-helper", "SKILL.md").status == "error"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../secret/SKILL.md", "leaves the skill's folder"),
        ("examples/../../x", "leaves the skill's folder"),
        ("/etc/passwd", "is an absolute path"),
        ("missing.py", "has no file 'missing.py'"),
        ("", "A file path is empty."),
    ],
)
def test_the_reader_refuses_path_tricks(agent, attached, path, message):
    outcome = read(agent, "sales-helper", path)
    assert outcome.status == "error"
    assert message in outcome.result


def test_the_reader_reads_the_pinned_version(agent, attached):
    services.skill_file_save(
        skill=attached, path="examples/run.py", content=b"print('v2')\n", saved_by=None
    )
    assert "print('v2')" in read(agent, "sales-helper", "examples/run.py").result
    services.agent_skills_set(agent=agent, choices={attached.pk: 1})
    assert "read_csv" in read(agent, "sales-helper", "examples/run.py").result


def test_binary_files_are_described_not_dumped(agent, attached):
    services.skill_file_save(
        skill=attached, path="data/logo.png", content=b"\x89PNG\0\0binary", saved_by=None
    )
    outcome = read(agent, "sales-helper", "data/logo.png")
    assert outcome.status == "ok" and "is a binary file (12 bytes)" in outcome.result


def test_bad_arguments_are_refused(agent, attached):
    assert "needs 'skill' and 'path'" in call(agent, tools.READ, skill=3).result
