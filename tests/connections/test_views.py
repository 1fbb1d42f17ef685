import sys

import pytest
from django.core.signals import got_request_exception
from django.urls import reverse
from django.views.debug import ExceptionReporter

from billing.metering import Meter
from billing.models import SessionAccount
from connections import services
from connections.models import Connection
from sandbox import services as sandbox_services
from sandbox.models import SandboxSession
from sandbox.signals import session_opened
from tests.agents.conftest import give_pixelml
from tests.connections.conftest import ANTHROPIC_KEY, OPENAI_KEY


@pytest.fixture
def openai_connection(team) -> Connection:
    return services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )


def _urls(slug: str, pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("connections:list", kwargs={"ws": slug})),
        ("get", reverse("connections:add", kwargs={"ws": slug})),
        ("post", reverse("connections:add", kwargs={"ws": slug})),
        ("get", reverse("connections:edit", kwargs={"ws": slug, "pk": pk})),
        ("post", reverse("connections:edit", kwargs={"ws": slug, "pk": pk})),
        ("post", reverse("connections:test", kwargs={"ws": slug, "pk": pk})),
        ("post", reverse("connections:delete", kwargs={"ws": slug, "pk": pk})),
    ]


@pytest.mark.parametrize("role", ["member", "finance"])
def test_it_refuses_members_who_are_not_admins(client_for, team, openai_connection, role):
    client = client_for(team.user(role))
    for method, url in _urls("acme", openai_connection.pk):
        assert getattr(client, method)(url).status_code == 403, url
    assert Connection.objects.filter(pk=openai_connection.pk).exists()


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_it_hides_the_workspace_from_outsiders(client_for, other_team, openai_connection, role):
    client = client_for(other_team.user(role))
    for method, url in _urls("acme", openai_connection.pk):
        assert getattr(client, method)(url).status_code == 404, url
    assert Connection.objects.filter(pk=openai_connection.pk).exists()


def test_it_finds_no_other_workspaces_connection_through_ones_own(
    client_for, other_team, openai_connection
):
    client = client_for(other_team.admin)
    for method, url in _urls("globex", openai_connection.pk)[3:]:  # those naming a pk
        assert getattr(client, method)(url).status_code == 404, url
    openai_connection.refresh_from_db()
    assert openai_connection.last_checked_at is None


def test_it_sends_anonymous_visitors_to_log_in(client, openai_connection):
    response = client.get(reverse("connections:list", kwargs={"ws": "acme"}))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_explains_connections_when_there_are_none(client_for, team):
    html = client_for(team.admin).get("/w/acme/connections/").content.decode()
    assert "No connections yet" in html
    assert "switches code execution on" in html
    assert 'href="/w/acme/connections/add/"' in html


def test_an_admin_adds_a_connection_and_sees_only_its_masked_key(client_for, team):
    client = client_for(team.admin)
    response = client.post(
        "/w/acme/connections/add/",
        {
            "kind": "anthropic",
            "name": "Claude",
            "secret": ANTHROPIC_KEY,
            "default_model": "claude-sonnet-4-5",
        },
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain == [("/w/acme/connections/", 302)]
    assert "Connection “Claude” added." in html
    assert "sk-…uI8o" in html and "claude-sonnet-4-5" in html and "Not tested" in html
    assert ANTHROPIC_KEY not in html
    assert ANTHROPIC_KEY[6:-4] not in html
    created = Connection.objects.get()
    assert (created.workspace, created.created_by) == (team.workspace, team.admin)


def test_the_form_shows_errors_by_their_fields_and_never_refills_the_key(client_for, team):
    client = client_for(team.admin)
    response = client.post(
        "/w/acme/connections/add/",
        {"kind": "openai", "name": "", "secret": OPENAI_KEY, "base_url": "ftp://x"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html
    response = client.post(
        "/w/acme/connections/add/",
        {"kind": "openai", "name": "OpenAI", "secret": OPENAI_KEY, "base_url": "ftp://x"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="error">Use an http:// or https:// URL' in html
    assert OPENAI_KEY not in html
    assert 'type="password"' in html
    assert not Connection.objects.exists()


def test_a_wrong_pixelml_key_is_refused_on_the_form(client_for, team, issued_key):
    response = client_for(team.admin).post(
        "/w/acme/connections/add/",
        {"kind": "pixelml", "name": "PixelML", "secret": "pxm_not-a-real-key-at-all-000"},
    )
    html = response.content.decode()
    assert "This PixelML key is not valid or has been revoked." in html
    assert "pxm_not-a-real-key-at-all-000" not in html


def test_the_list_shows_whether_code_execution_is_on(client_for, team, issued_key):
    client = client_for(team.admin)
    services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )
    html = client.get("/w/acme/connections/").content.decode()
    assert "Code execution is <strong>off</strong>" in html
    services.connection_create(
        workspace=team.workspace, kind="pixelml", name="PixelML", secret=issued_key[1]
    )
    html = client.get("/w/acme/connections/").content.decode()
    assert "Code execution on · billed to Acme Corp" in html
    assert issued_key[1] not in html
    services.pixelml_key_revoke(key=issued_key[0])
    html = client.get("/w/acme/connections/").content.decode()
    assert "Revoked" in html and "Code execution is <strong>off</strong>" in html


def test_an_admin_tests_a_connection_and_sees_the_result(client_for, team, fake_provider):
    server = fake_provider(OPENAI_KEY)
    wrong = "sk-proj-WrongWrongWrong9876"
    good, bad = (
        services.connection_create(
            workspace=team.workspace,
            kind="openai",
            name=name,
            secret=secret,
            base_url=f"{server.url}/v1",
        )
        for name, secret in (("Good", OPENAI_KEY), ("Bad", wrong))
    )
    client = client_for(team.admin)
    html = client.post(f"/w/acme/connections/{good.pk}/test/", follow=True).content.decode()
    assert "“Good” works. Connected: the provider lists 2 models." in html
    assert 'class="badge ok">OK' in html
    html = client.post(f"/w/acme/connections/{bad.pk}/test/", follow=True).content.decode()
    assert "“Bad” failed the test. The provider rejected the key (401)" in html
    assert 'class="badge bad">Failed' in html
    assert wrong not in html and OPENAI_KEY not in html


def test_the_test_and_delete_urls_take_only_post(client_for, team, openai_connection):
    client = client_for(team.admin)
    for name in ("connections:test", "connections:delete"):
        url = reverse(name, kwargs={"ws": "acme", "pk": openai_connection.pk})
        assert client.get(url).status_code == 405


def test_an_admin_deletes_a_connection(client_for, team, openai_connection):
    client = client_for(team.admin)
    html = client.get("/w/acme/connections/").content.decode()
    assert 'data-confirm="Delete the connection “OpenAI”?' in html
    response = client.post(f"/w/acme/connections/{openai_connection.pk}/delete/", follow=True)
    assert "Connection “OpenAI” deleted." in response.content.decode()
    assert not Connection.objects.exists()


def test_deleting_a_pixelml_connection_while_sandboxes_run_stops_them_not_their_charge(
    client_for, team, django_capture_on_commit_callbacks
):
    give_pixelml(team.workspace, team.admin)
    pixelml = Connection.objects.get(kind="pixelml")
    session = sandbox_services.sandbox_session_create(
        workspace=team.workspace, started_by=team.admin, purpose="turn", runtime="runc",
        image="x", owner="",
    )  # fmt: skip
    session_opened.send(sender=SandboxSession, session=session)  # as the engine opens it
    meter = Meter(workspace=team.workspace)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.admin).post(
            f"/w/acme/connections/{pixelml.pk}/delete/", follow=True
        )

    assert "Connection “PixelML” deleted." in response.content.decode()
    assert meter.stop_reason(session_id=session.pk, running_ms=0).startswith(
        "this workspace's PixelML connection was deleted"
    )
    assert SessionAccount.objects.get(session=session).account.key == pixelml.pixelml_key


def test_error_reports_leave_out_the_pasted_key(client_for, team, monkeypatch):
    """What an error email (AdminEmailHandler) would contain if saving crashed."""
    reports = []

    def report(sender, request, **kwargs) -> None:
        reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_text())

    def fail(plaintext: str) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr("connections.services.crypto.encrypt", fail)
    got_request_exception.connect(report)
    client = client_for(team.admin)
    client.raise_request_exception = False
    try:
        response = client.post(
            "/w/acme/connections/add/", {"kind": "openai", "name": "OpenAI", "secret": OPENAI_KEY}
        )
    finally:
        got_request_exception.disconnect(report)
    assert response.status_code == 500
    assert "disk full" in reports[0] and "connection_create" in reports[0]
    assert OPENAI_KEY not in reports[0]


def test_an_admin_edits_a_connection_and_keeps_its_key_by_leaving_it_empty(
    client_for, team, openai_connection
):
    url = reverse("connections:edit", kwargs={"ws": "acme", "pk": openai_connection.pk})
    client = client_for(team.admin)
    form = client.get(url).content.decode()
    assert "Leave empty to keep the current key (sk-…yB5c)." in form
    assert OPENAI_KEY not in form
    response = client.post(url, {"name": "OpenAI prod", "default_model": "gpt-4.1"}, follow=True)
    assert "Connection “OpenAI prod” saved." in response.content.decode()
    openai_connection.refresh_from_db()
    assert (openai_connection.name, openai_connection.default_model) == ("OpenAI prod", "gpt-4.1")
    assert services.selectors.connection_secret(connection=openai_connection) == OPENAI_KEY


def test_editing_shows_errors_by_field(client_for, team, openai_connection):
    url = reverse("connections:edit", kwargs={"ws": "acme", "pk": openai_connection.pk})
    response = client_for(team.admin).post(url, {"name": "OpenAI", "base_url": "ftp://x"})
    assert response.status_code == 400
    assert "Use an http:// or https:// URL" in response.content.decode()
