"""The skill pages: who may do what (admins write, members read, finance and other
workspaces nothing), and what each action does."""

import io
import json
import zipfile

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents.models import Agent
from skills import services
from skills.models import AgentSkill, Skill
from skills.selectors import skill_latest_version, version_contents
from tests.skills.helpers import SKILL_MD, make_zip, skill_files, skill_md


@pytest.fixture
def skill(team) -> Skill:
    return services.skill_import(workspace=team.workspace, files=skill_files(), created_by=None)


@pytest.fixture
def agent(team) -> Agent:
    return Agent.objects.create(workspace=team.workspace, name="Analyst")


def pages(skill) -> list[str]:
    base = f"/w/acme/skills/{skill.pk}/"
    return ["/w/acme/skills/", base, f"{base}?file=examples/run.py&version=1"]


def admin_gets(skill) -> list[str]:
    base = f"/w/acme/skills/{skill.pk}/"
    return ["/w/acme/skills/new/", "/w/acme/skills/import/", f"{base}edit/", f"{base}export/"]


def admin_posts(skill, agent) -> list[tuple[str, dict]]:
    base = f"/w/acme/skills/{skill.pk}/"
    return [
        ("/w/acme/skills/new/", {"name": "x-y", "description": "d"}),
        ("/w/acme/skills/import/", {"source": "zip"}),
        (f"{base}edit/", {"path": "a.txt", "content": "x"}),
        (f"{base}delete-file/", {"path": "data/sales.csv"}),
        (f"{base}delete/", {}),
        (f"/w/acme/skills/attach/{agent.pk}/", {"skill": [skill.pk]}),
    ]


def test_admins_and_members_read_finance_is_refused(client_for, team, skill):
    for url in pages(skill):
        assert client_for(team.admin).get(url).status_code == 200, url
        assert client_for(team.member).get(url).status_code == 200, url
        assert client_for(team.finance).get(url).status_code == 403, url


def test_members_see_no_write_actions(client_for, team, skill):
    html = client_for(team.member).get(f"/w/acme/skills/{skill.pk}/").content.decode()
    assert "sales-helper" in html and "Read examples/run.py" in html
    for word in ("Export zip", "Delete file", "Test in sandbox", "/edit/"):
        assert word not in html
    admin_html = client_for(team.admin).get(f"/w/acme/skills/{skill.pk}/").content.decode()
    assert "Export zip" in admin_html and "Test in sandbox" in admin_html


def test_only_admins_write(client_for, team, skill, agent):
    for role in ("member", "finance"):
        client = client_for(team.user(role))
        for url in admin_gets(skill):
            assert client.get(url).status_code == 403, (role, url)
        for url, data in admin_posts(skill, agent):
            assert client.post(url, data).status_code == 403, (role, url)
    assert Skill.objects.count() == 1 and skill.versions.count() == 1
    assert not AgentSkill.objects.exists()


def test_another_workspace_gets_404_for_everything(client_for, other_team, skill, agent):
    client = client_for(other_team.admin)
    for url in [*pages(skill), *admin_gets(skill)]:
        assert client.get(url).status_code == 404, url
    for url, data in admin_posts(skill, agent):
        assert client.post(url, data).status_code == 404, url
    # Through their own workspace's address, the ids are still not theirs.
    base = f"/w/globex/skills/{skill.pk}/"
    for url in (base, f"{base}edit/", f"{base}export/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{base}delete/").status_code == 404
    attach = client.post(f"/w/globex/skills/attach/{agent.pk}/", {"skill": [skill.pk]})
    assert attach.status_code == 404
    assert Skill.objects.filter(pk=skill.pk).exists()


def test_an_admin_imports_a_zip(client_for, team):
    upload = SimpleUploadedFile("sales.zip", make_zip(skill_files(), folder="sales-helper/"))
    response = client_for(team.admin).post(
        "/w/acme/skills/import/", {"source": "zip", "archive": upload}
    )
    skill = Skill.objects.get(workspace=team.workspace)
    assert response.status_code == 302 and response.url == f"/w/acme/skills/{skill.pk}/"
    assert skill_latest_version(skill=skill).note == "Imported from sales.zip"


@pytest.mark.parametrize(
    ("files", "symlinks", "message"),
    [
        ({"README.md": b"x"}, {}, "There is no SKILL.md"),
        ({"SKILL.md": b"no front matter"}, {}, "has no front matter"),
        ({"SKILL.md": SKILL_MD, "../up.py": b"x"}, {}, "leaves the skill"),
        ({"SKILL.md": SKILL_MD}, {"link": "/etc/passwd"}, "is a symbolic link"),
    ],
)
def test_an_invalid_zip_is_refused_with_its_reason(client_for, team, files, symlinks, message):
    upload = SimpleUploadedFile("bad.zip", make_zip(files, symlinks=symlinks))
    response = client_for(team.admin).post(
        "/w/acme/skills/import/", {"source": "zip", "archive": upload}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Skill.objects.exists()


def test_importing_an_existing_skill_again_makes_a_version_only_when_files_changed(
    client_for, team, skill
):
    client = client_for(team.admin)
    for files in (skill_files(), skill_files(**{"notes.txt": b"new"})):
        upload = SimpleUploadedFile("again.zip", make_zip(files))
        response = client.post(
            "/w/acme/skills/import/", {"source": "zip", "archive": upload}, follow=True
        )
        assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said == ["Skill “sales-helper” updated to version 2: added notes.txt."]
    assert skill.versions.count() == 2


def test_an_admin_imports_a_browser_folder_with_its_paths(client_for, team):
    files = skill_files()
    paths = [f"sales-helper/{p}" for p in files]
    uploads = [SimpleUploadedFile(p.rsplit("/", 1)[-1], data) for p, data in files.items()]
    response = client_for(team.admin).post(
        "/w/acme/skills/import/",
        {"source": "folder", "paths": json.dumps(paths), "files": uploads},
    )
    assert response.status_code == 302
    skill = Skill.objects.get(workspace=team.workspace)
    assert version_contents(version=skill_latest_version(skill=skill)) == files


def test_a_folder_upload_without_matching_paths_is_refused(client_for, team):
    uploads = [SimpleUploadedFile("SKILL.md", SKILL_MD)]
    response = client_for(team.admin).post(
        "/w/acme/skills/import/", {"source": "folder", "paths": "[]", "files": uploads}
    )
    assert response.status_code == 400 and "do not match" in response.content.decode()


def test_an_admin_edits_a_file_into_a_new_version(client_for, team, skill):
    client = client_for(team.admin)
    page = client.get(f"/w/acme/skills/{skill.pk}/edit/?file=examples/run.py").content.decode()
    assert "read_csv" in page and "data-editor" in page
    response = client.post(
        f"/w/acme/skills/{skill.pk}/edit/", {"path": "examples/run.py", "content": "print(3)\r\n"}
    )
    assert response.status_code == 302
    assert version_contents(version=skill_latest_version(skill=skill))["examples/run.py"] == (
        b"print(3)\n"
    )
    bad = client.post(f"/w/acme/skills/{skill.pk}/edit/", {"path": "SKILL.md", "content": "x"})
    assert bad.status_code == 400 and "has no front matter" in bad.content.decode()
    assert skill.versions.count() == 2


def test_an_admin_exports_a_version_as_a_zip(client_for, team, skill):
    services.skill_file_save(skill=skill, path="new.txt", content=b"n", saved_by=None)
    response = client_for(team.admin).get(f"/w/acme/skills/{skill.pk}/export/?version=1")
    assert response["Content-Disposition"] == 'attachment; filename="sales-helper-v1.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"sales-helper/{p}" for p in skill_files())


def test_an_admin_deletes_a_skill_and_its_attachments(client_for, team, skill, agent):
    services.agent_skills_set(agent=agent, choices={skill.pk: None})
    response = client_for(team.admin).post(f"/w/acme/skills/{skill.pk}/delete/")
    assert response.status_code == 302
    assert not Skill.objects.exists() and not AgentSkill.objects.exists()


def test_the_agent_skills_tab_attaches_and_pins(client_for, team, skill, agent):
    client = client_for(team.admin)
    tab = client.get(f"/w/acme/agents/{agent.pk}/edit/skills/").content.decode()
    assert 'data-skill="sales-helper"' in tab
    response = client.post(
        f"/w/acme/skills/attach/{agent.pk}/", {"skill": [skill.pk], f"version-{skill.pk}": "1"}
    )
    assert response.url == f"/w/acme/agents/{agent.pk}/edit/skills/"
    link = AgentSkill.objects.get(agent=agent)
    assert link.skill == skill and link.pinned_version.number == 1
    detail = client.get(f"/w/acme/agents/{agent.pk}/").content.decode()
    assert "1 skill attached." in detail


def test_attaching_another_workspaces_skill_is_refused(client_for, team, other_team, agent):
    foreign = services.skill_import(
        workspace=other_team.workspace, files={"SKILL.md": skill_md()}, created_by=None
    )
    client = client_for(team.admin)
    response = client.post(f"/w/acme/skills/attach/{agent.pk}/", {"skill": [foreign.pk]})
    assert response.status_code == 302
    assert not AgentSkill.objects.exists()
    page = client.get(response.url).content.decode()
    assert "do not exist in this workspace" in page


def test_a_version_that_does_not_exist_is_404(client_for, team, skill):
    assert client_for(team.admin).get(f"/w/acme/skills/{skill.pk}/?version=7").status_code == 404
    assert client_for(team.admin).get(f"/w/acme/skills/{skill.pk}/?version=x").status_code == 404
    for odd in ("²", "9" * 30):
        assert (
            client_for(team.admin).get(f"/w/acme/skills/{skill.pk}/?version={odd}").status_code
            == 404
        )


@pytest.mark.parametrize("fields", [{"skill": ["9" * 30]}, {"skill": ["1"], "version-1": "²"}])
def test_odd_skill_ids_or_versions_are_refused_in_plain_words(client_for, team, agent, fields):
    client = client_for(team.admin)
    response = client.post(f"/w/acme/skills/attach/{agent.pk}/", fields)
    assert response.status_code == 302
    assert "The skills sent were not understood." in client.get(response.url).content.decode()
    assert not AgentSkill.objects.exists()


def test_a_request_with_more_files_than_a_skill_holds_is_refused_in_plain_words(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.admin)
    client.get("/w/acme/skills/import/")
    uploads = [SimpleUploadedFile(f"{n}.txt", b"x") for n in range(101)]
    data = {"source": "folder", "paths": "[]", "files": uploads}
    data["csrfmiddlewaretoken"] = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post("/w/acme/skills/import/", data)

    assert response.status_code == 400
    assert "more than 100 files at once" in response.content.decode()
    assert not Skill.objects.exists()
