"""The site's icon: named by every page, and answered at /favicon.ico for the pages
that cannot name it (the operator console)."""

import pytest

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith(".svg")


@pytest.mark.browser
def test_a_page_and_the_icon_load_without_a_missing_file(page, login, team):
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(team.admin)
    page.goto(f"/w/{team.workspace.slug}/")
    icon = page.evaluate("() => document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).headers["content-type"] == "image/svg+xml"
    response = page.goto("/favicon.ico")
    assert response.ok and response.headers["content-type"] == "image/svg+xml"
    assert failed == []
