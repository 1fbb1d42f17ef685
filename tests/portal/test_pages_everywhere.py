"""Every page of every role, in a real Chromium at a desktop width and at a phone's:
nothing wider than the window, and no serious or critical accessibility violation
(axe-core, through axe-playwright-python)."""

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe

from agents.models import Agent
from portal.demo import demo_seed
from skills.models import Skill
from tests.billing.usage_helpers import charged_turn, conversation_of
from tests.conftest import PASSWORD
from workspaces.models import User, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
BLOCKING = ("serious", "critical")
OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth + 1) return [];
  // The widest elements that stick out, to say where.
  return [...document.querySelectorAll("body *")]
    .filter((node) => node.getBoundingClientRect().right > root.clientWidth + 1)
    .filter((node) => !node.closest("pre, code, .table-wrap"))
    .slice(0, 3)
    .map((node) => [node.tagName.toLowerCase(), ...String(node.className).split(" ")]
      .filter(Boolean).join("."));
}"""


@pytest.fixture
def demo(settings) -> dict:
    settings.DEMO_PASSWORD = PASSWORD
    demo_seed()
    workspace = Workspace.objects.get(slug="demo")
    people = {
        role: User.objects.get(email=f"{role}@example.com")
        for role in ("admin", "member", "finance", "operator")
    }
    agent = Agent.objects.filter(workspace=workspace).first()
    team = type("Team", (), {"workspace": workspace, "admin": people["admin"]})
    chat = conversation_of(team, agent_name=agent.name, user=people["member"], title="Totals")
    turn, _ = charged_turn(chat, [1200])
    skill = Skill.objects.filter(workspace=workspace).first()
    ws = "/w/demo"
    admin_pages = [
        f"{ws}/", f"{ws}/drive/", f"{ws}/connections/", f"{ws}/connections/add/",
        f"{ws}/agents/", f"{ws}/agents/new/", f"{ws}/agents/{agent.pk}/",
        *(f"{ws}/agents/{agent.pk}/edit/{tab}/" for tab in
          ("basics", "model", "instructions", "skills", "code-execution")),
        f"{ws}/playground/", f"{ws}/skills/", f"{ws}/skills/new/", f"{ws}/skills/import/",
        f"{ws}/skills/{skill.pk}/", f"{ws}/skills/{skill.pk}/edit/?path=SKILL.md",
        f"{ws}/members/", f"{ws}/settings/",
        f"{ws}/settings/billing/", f"{ws}/usage/", f"{ws}/usage/turns/{turn.pk}/",
        "/account/password/", "/workspaces/new/",
    ]  # fmt: skip
    return {
        "people": people,
        "pages": {
            "anonymous": ["/login/"],
            "admin": admin_pages,
            "member": [
                f"{ws}/",
                f"{ws}/drive/",
                f"{ws}/agents/",
                f"{ws}/playground/",
                f"{ws}/playground/{chat.pk}/",
                f"{ws}/skills/",
                f"{ws}/skills/{skill.pk}/",
            ],
            "finance": [
                f"{ws}/",
                f"{ws}/usage/",
                f"{ws}/usage/turns/{turn.pk}/",
                f"{ws}/settings/billing/",
            ],
            "operator": [
                "/operator/",
                "/operator/connections/connection/",
                "/operator/workspaces/workspace/",
            ],
        },
    }


@pytest.fixture(params=list(WIDTHS))
def sized_page(request, browser, live_server) -> Iterator:
    width, height = WIDTHS[request.param]
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def log_in(page, user: User) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("role", ["anonymous", "admin", "member", "finance", "operator"])
def test_no_page_is_wider_than_the_window_or_has_a_serious_accessibility_problem(
    sized_page, demo, role
):
    page, axe = sized_page, Axe()
    if role != "anonymous":
        log_in(page, demo["people"][role])
    problems = []
    for path in demo["pages"][role]:
        response = page.goto(path)
        assert response.ok, f"{path}: {response.status}"
        if sticking_out := page.evaluate(OVERFLOW):
            problems.append(f"{path}: wider than the window ({', '.join(sticking_out)})")
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [node["target"] for node in violation["nodes"][:3]]
                problems.append(f"{path}: {violation['id']} ({violation['impact']}) {targets}")
    assert problems == [], "\n".join(problems)
