"""Every page of every role, in a real Chromium under the strict Content-Security-Policy:
the console must report no violation (an inline script or style, an event-handler
attribute, a load from elsewhere)."""

from io import StringIO
from types import SimpleNamespace
from urllib.parse import urldefrag, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError

from tests.billing.usage_helpers import charged_turn, conversation_of
from workspaces.models import User, Workspace
from workspaces.services import invitation_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "demo-pass-for-the-csp-crawl"
ROLES = ["admin", "member", "finance", "operator", "visitor"]
# Links not followed: they end the session, start a download, or only differ by a query.
SKIPPED = ("/logout/", "/download", "/operator/logout/", "?")
MAX_PAGES = 120


@pytest.fixture
def demo(settings):
    settings.DEMO_PASSWORD = DEMO_PASSWORD
    call_command("seed_demo", stdout=StringIO())
    workspace = Workspace.objects.get(slug="demo")
    team = SimpleNamespace(
        workspace=workspace,
        admin=User.objects.get(email="admin@example.com"),
        member=User.objects.get(email="member@example.com"),
    )
    charged_turn(conversation_of(team, agent_name="Code runner", title="Q3 numbers"), [1200])
    _, token = invitation_create(workspace=workspace, email="new@example.com", role="member")
    return reverse("invitation_accept", args=[token])


def log_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login/" not in page.url


def crawl(page, base: str, start: list[str]) -> list[str]:
    """Visits every same-site page reachable by links from the start; the pages seen."""
    seen: list[str] = []
    queue = list(start)
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.append(path)
        try:
            page.goto(path)
        except PlaywrightError:  # a download, not a page
            continue
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            url = urldefrag(href).url
            if not url.startswith(base) or any(s in url for s in SKIPPED):
                continue
            link = urlsplit(url).path
            if link not in seen and link not in queue:
                queue.append(link)
    return seen


@pytest.mark.parametrize("role", ROLES)
def test_no_page_breaks_the_policy(page, live_server, demo, role):
    violations = []
    page.on(
        "console",
        lambda m: (
            violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(f"{page.url}: {error}"))
    start = {
        "operator": ["/", "/operator/"],
        # Someone not logged in: the login page, a password reset, an invitation.
        "visitor": ["/login/", reverse("password_reset"), demo, "/no-such-page/"],
    }.get(role, ["/"])
    if role != "visitor":
        log_in(page, f"{role}@example.com")

    seen = crawl(page, live_server.url, start)

    assert violations == []
    assert len(seen) >= 4, seen  # the crawl really went through the site
    if role == "operator":
        assert any(path.startswith("/operator/") for path in seen)
    if role == "admin":
        assert any("/agents/" in path for path in seen) and any("/skills/" in p for p in seen)
