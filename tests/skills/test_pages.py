"""The skill pages in a real Chromium against Daphne and real sandboxes: import a zip,
attach the skill to an agent, test-run its example and watch the output arrive."""

import re

import pytest
from playwright.sync_api import expect

from portal.demo import DEMO_AGENT, demo_seed
from skills.models import AgentSkill
from tests.conftest import PASSWORD
from tests.skills.helpers import make_zip, skill_files
from workspaces.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_image"),
]

TEXT_FITS = """select => {
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const text = context.measureText(select.options[select.selectedIndex].text).width;
  const arrow = 16;
  return text + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) + arrow
    <= select.clientWidth;
}"""
SANDBOX_START = 60_000  # ms: a cold container start on a busy machine
SLOW_RUN = (
    b"import time\nprint('first line', flush=True)\ntime.sleep(2)\n"
    b"print(open('data/sales.csv').read().splitlines()[1], flush=True)\n"
)


@pytest.fixture
def admin(settings) -> User:
    settings.DEMO_PASSWORD = PASSWORD
    demo_seed()
    return User.objects.get(email="admin@example.com")


def test_an_admin_imports_attaches_and_test_runs_a_skill(asgi_page, admin, tmp_path):
    page = asgi_page
    archive = tmp_path / "sales-helper.zip"
    archive.write_bytes(make_zip(skill_files(**{"examples/slow.py": SLOW_RUN}), folder="x/"))
    page.goto("/login/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[data-testid=current-workspace]")

    page.get_by_role("link", name="Skills", exact=True).click()
    expect(page.get_by_test_id("skills")).to_contain_text("data-analysis-toolkit")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Zip file").set_input_files(str(archive))
    page.get_by_role("button", name="Import zip").click()
    expect(page.get_by_role("status")).to_have_text("Skill “sales-helper” imported.")
    expect(page.get_by_test_id("skill-files")).to_contain_text("examples/slow.py")
    expect(page.locator("code.hljs").first).to_contain_text("name: sales-helper")
    skill_url = page.url

    page.get_by_role("link", name="Agents", exact=True).click()
    page.locator(f"tr[data-agent='{DEMO_AGENT}']").get_by_role("link", name="Edit").click()
    page.get_by_role("tab", name="Skills & Capabilities").click()
    row = page.locator("tr[data-skill='sales-helper']")
    # The version picker shows its whole text ("Latest (v1)"), not a clipped "Latest (".
    assert row.get_by_role("combobox").evaluate(TEXT_FITS)
    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Save skills").click()
    expect(page.get_by_role("status")).to_have_text(f"Skills of “{DEMO_AGENT}” saved.")
    expect(page.locator("tr[data-skill='sales-helper']").get_by_role("checkbox")).to_be_checked()
    assert AgentSkill.objects.filter(agent__name=DEMO_AGENT, skill__name="sales-helper").exists()

    page.goto(skill_url)
    page.get_by_label("Example file").select_option("examples/slow.py")
    page.get_by_role("button", name="Test in sandbox").click()
    output = page.get_by_test_id("test-output")
    expect(output).to_contain_text("first line", timeout=SANDBOX_START)
    # Live: the first line shows while the code still sleeps before the second.
    assert "North,10" not in output.inner_text()
    expect(page.get_by_test_id("test-status")).to_have_text(re.compile(r"^Running… \d+ s$"))
    expect(output).to_contain_text("North,10")
    expect(page.get_by_test_id("test-status")).to_have_text(
        re.compile(r"^Finished: ok \(\d+\.\d s\)$")
    )
    expect(output).to_contain_text("Copied 4 skill files into /workspace.")
    # The script's output only: not the globals dict runpy answers with.
    assert "__builtins__" not in output.inner_text()


def write_folder(root, files: dict[str, bytes]):
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def test_a_folder_import_leaves_out_git_and_refuses_too_many_files(page, login, team, tmp_path):
    login(team.admin)
    page.goto(f"/w/{team.workspace.slug}/skills/import/")
    # 120 files under .git: more than a request may carry, and all of them left out.
    git = {f".git/objects/{n:03}": b"x" for n in range(120)}
    folder = write_folder(tmp_path / "sales-helper", {**skill_files(), **git})
    page.get_by_label("Folder").set_input_files(str(folder))
    page.get_by_role("button", name="Import folder").click()
    expect(page.get_by_role("status")).to_have_text("Skill “sales-helper” imported.")
    expect(page.get_by_test_id("skill-files")).not_to_contain_text(".git")

    page.goto(f"/w/{team.workspace.slug}/skills/import/")
    crowded = {f"data/{n:03}.csv": b"a,b\n" for n in range(101)}
    folder = write_folder(tmp_path / "crowded", {**skill_files(), **crowded})
    page.get_by_label("Folder").set_input_files(str(folder))
    problem = page.get_by_test_id("folder-problem")
    expect(problem).to_have_text(
        re.compile(r"^The folder has 10\d files; a skill holds at most 100\.$")
    )
    page.get_by_role("button", name="Import folder").click()
    expect(problem).to_be_visible()
    assert page.url.endswith("/skills/import/")


def test_a_zip_of_an_existing_skill_imports_as_its_new_version(page, login, team, tmp_path):
    login(team.admin)
    archive = tmp_path / "sales-helper.zip"
    for files in (skill_files(), skill_files(**{"notes.txt": b"v2"})):
        archive.write_bytes(make_zip(files, folder="sales-helper/"))
        page.goto(f"/w/{team.workspace.slug}/skills/import/")
        page.get_by_label("Zip file").set_input_files(str(archive))
        page.get_by_role("button", name="Import zip").click()
    expect(page.get_by_role("status")).to_have_text(
        "Skill “sales-helper” updated to version 2: added notes.txt."
    )
    expect(page.get_by_test_id("skill-files")).to_contain_text("notes.txt")
