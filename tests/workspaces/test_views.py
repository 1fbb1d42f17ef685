"""Every workspace view: who may reach it, and that other tenants get a 404."""

import pytest
from django.urls import reverse
from django.views.defaults import server_error

from connections.services import connection_create, pixelml_key_issue
from tests.conftest import PASSWORD
from workspaces.access import LAST_WORKSPACE_SESSION_KEY
from workspaces.models import Membership, Role


def member_pk(team, role):
    return Membership.objects.get(workspace=team.workspace, user=team.user(role)).pk


def admin_urls(team):
    ws = team.workspace.slug
    pk = member_pk(team, "member")
    return [
        ("get", reverse("member_list", kwargs={"ws": ws}), {}),
        ("post", reverse("member_list", kwargs={"ws": ws}), {"email": "a@b.co", "role": "member"}),
        ("post", reverse("member_role", kwargs={"ws": ws, "pk": pk}), {"role": "finance"}),
        ("post", reverse("member_remove", kwargs={"ws": ws, "pk": pk}), {}),
        ("get", reverse("workspace_settings", kwargs={"ws": ws}), {}),
        ("post", reverse("workspace_settings", kwargs={"ws": ws}), {"name": "Hijacked"}),
    ]


def test_anonymous_visitors_are_sent_to_login(client, team):
    response = client.get(reverse("dashboard", kwargs={"ws": "acme"}))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_opens_the_last_workspace_used(client_for, team, other_team):
    Membership.objects.create(user=team.admin, workspace=other_team.workspace, role=Role.MEMBER)
    client = client_for(team.admin)
    client.get(reverse("dashboard", kwargs={"ws": "globex"}))
    assert client.session[LAST_WORKSPACE_SESSION_KEY] == "globex"
    assert client.get(reverse("home")).url == reverse("dashboard", kwargs={"ws": "globex"})


def test_home_without_any_workspace_offers_to_create_one(client_for, django_user_model):
    loner = django_user_model.objects.create_user("loner@example.com", "pw-loner-123")
    client = client_for(loner)
    assert client.get(reverse("home")).url == reverse("workspace_new")
    response = client.post(reverse("workspace_new"), {"name": "Loner Labs"})
    assert response.url == reverse("dashboard", kwargs={"ws": "loner-labs"})


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_every_role_sees_the_dashboard_with_the_workspace_name(client_for, team, role):
    response = client_for(team.user(role)).get(reverse("dashboard", kwargs={"ws": "acme"}))
    assert response.status_code == 200
    assert 'data-testid="current-workspace">Acme<' in response.content.decode()


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_another_workspace_is_invisible(client_for, team, other_team, role):
    client = client_for(other_team.user(role))
    assert client.get(reverse("dashboard", kwargs={"ws": "acme"})).status_code == 404
    for method, url, data in admin_urls(team):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert Membership.objects.filter(workspace=team.workspace).count() == 3
    team.workspace.refresh_from_db()
    assert team.workspace.name == "Acme"


@pytest.mark.parametrize("role", ["member", "finance"])
def test_admin_pages_are_refused_to_other_roles(client_for, team, role):
    client = client_for(team.user(role))
    for method, url, data in admin_urls(team):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, url
    assert "for workspace admins only" in response.content.decode()
    assert Membership.objects.get(pk=member_pk(team, "member")).role == Role.MEMBER


def test_an_admin_cannot_reach_a_membership_of_another_workspace_through_their_own(
    client_for, team, other_team
):
    foreign_pk = member_pk(other_team, "member")
    client = client_for(team.admin)
    url = reverse("member_remove", kwargs={"ws": "acme", "pk": foreign_pk})
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign_pk).exists()


def test_admin_adds_a_person_and_sees_the_one_time_password_once(client_for, team):
    client = client_for(team.admin)
    url = reverse("member_list", kwargs={"ws": "acme"})
    response = client.post(url, {"email": "newbie@example.com", "role": "member"}, follow=True)
    page = response.content.decode()
    assert "One-time password:" in page
    assert "newbie@example.com" in page
    assert "One-time password:" not in client.get(url).content.decode()


def test_adding_with_a_bad_email_shows_the_error_next_to_the_field(client_for, team):
    response = client_for(team.admin).post(
        reverse("member_list", kwargs={"ws": "acme"}), {"email": "not-an-email", "role": "member"}
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_admin_changes_a_role(client_for, team):
    url = reverse("member_role", kwargs={"ws": "acme", "pk": member_pk(team, "member")})
    client_for(team.admin).post(url, {"role": "finance"})
    assert Membership.objects.get(pk=member_pk(team, "member")).role == Role.FINANCE


def test_the_last_admin_is_told_why_they_cannot_leave(client_for, team):
    url = reverse("member_remove", kwargs={"ws": "acme", "pk": member_pk(team, "admin")})
    response = client_for(team.admin).post(url, follow=True)
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.filter(user=team.admin, workspace=team.workspace).exists()


def test_login_works_with_the_email_in_any_case(client, team):
    credentials = {"username": "ADMIN@acme.test", "password": PASSWORD}
    response = client.post(reverse("login"), credentials)
    assert response.status_code == 302


def test_the_dashboard_says_whether_code_execution_is_paid_for(client_for, team):
    url = reverse("dashboard", kwargs={"ws": "acme"})
    assert "Needs an active PixelML connection" in client_for(team.member).get(url).text
    _, key = pixelml_key_issue(name="Acme billing")
    connection_create(workspace=team.workspace, kind="pixelml", name="PixelML", secret=key)
    page = client_for(team.finance).get(url).text
    assert "Paid by the PixelML account “Acme billing”" in page
    assert key not in page


def test_the_dashboard_shows_drive_usage_to_members_but_not_to_finance(client_for, team):
    url = reverse("dashboard", kwargs={"ws": "acme"})
    assert 'data-testid="card-drive"' in client_for(team.member).get(url).text
    assert 'data-testid="card-drive"' not in client_for(team.finance).get(url).text


def test_the_error_page_renders_without_a_request_context(client):
    response = server_error(client.get("/login/").wsgi_request)
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_admin_renames_the_workspace_and_its_address_stays(client_for, team):
    url = reverse("workspace_settings", kwargs={"ws": "acme"})
    response = client_for(team.admin).post(url, {"name": "Acme Holdings"}, follow=True)
    assert "The workspace is now called “Acme Holdings”." in response.text
    team.workspace.refresh_from_db()
    assert (team.workspace.name, team.workspace.slug) == ("Acme Holdings", "acme")


def test_a_blank_workspace_name_is_refused_next_to_the_field(client_for, team):
    url = reverse("workspace_settings", kwargs={"ws": "acme"})
    response = client_for(team.admin).post(url, {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.text


def test_a_wrong_password_gets_a_plain_message(client, team):
    response = client.post(reverse("login"), {"username": team.member.email, "password": "nope"})
    assert "That email and password do not match." in response.text
