"""The Content-Security-Policy on every response, and the sealed frame that shows a
sandbox's HTML output under a policy of its own."""

from django.test import Client

from config.csp import POLICY
from portal.views import HTML_FRAME_POLICY


def test_every_page_gets_the_strict_policy(client_for, team):
    response = client_for(team.member).get("/w/acme/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert policy == POLICY
    assert "unsafe-inline" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy


def test_the_login_page_and_static_files_get_it_too(db):
    client = Client()
    assert client.get("/login/")["Content-Security-Policy"] == POLICY
    assert client.get("/static/js/app.js")["Content-Security-Policy"] == POLICY


def test_a_page_with_its_own_policy_keeps_it(client_for, team):
    response = client_for(team.member).post("/frame/html/", {"html": "<p>hi</p>"})
    assert response["Content-Security-Policy"] == HTML_FRAME_POLICY


def test_the_html_frame_shows_the_posted_html_sealed(client_for, team):
    html = "<style>p{color:red}</style><p>table</p><script>alert(1)</script>"
    response = client_for(team.member).post("/frame/html/", {"html": html})
    assert response.status_code == 200
    assert response.content.decode() == html
    policy = response["Content-Security-Policy"]
    assert policy.endswith("; sandbox")
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "no-store" in response["Cache-Control"]


def test_the_html_frame_needs_a_login_a_post_and_a_csrf_token(client_for, team, db):
    assert Client().post("/frame/html/", {"html": "<p>x</p>"}).status_code == 302
    assert client_for(team.member).get("/frame/html/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(team.member)
    assert strict.post("/frame/html/", {"html": "<p>x</p>"}).status_code == 403
