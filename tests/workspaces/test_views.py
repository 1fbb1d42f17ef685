"""Every workspace view: who may reach it, and that other tenants get a 404."""

import re

import pytest
from django.urls import reverse
from django.views.defaults import server_error

from tests.conftest import PASSWORD
from workspaces import selectors, services
from workspaces.models import Invitation, Membership, Role

# 255 characters: Django's EmailField allows 320, the column holds 254.
TOO_LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 58]) + ".com"


def member_pk(team, role):
    return Membership.objects.get(workspace=team.workspace, user=team.user(role)).pk


def pending_invitation(team):
    invitation, _ = services.invitation_create(
        workspace=team.workspace, email="pending@example.com", role=Role.MEMBER
    )
    return invitation


def admin_urls(team):
    ws = team.workspace.slug
    pk = member_pk(team, "member")
    invitation = pending_invitation(team)
    return [
        ("get", reverse("member_list", kwargs={"ws": ws}), {}),
        ("post", reverse("member_list", kwargs={"ws": ws}), {"email": "a@b.co", "role": "member"}),
        ("post", reverse("member_role", kwargs={"ws": ws, "pk": pk}), {"role": "finance"}),
        ("post", reverse("member_remove", kwargs={"ws": ws, "pk": pk}), {}),
        ("post", reverse("invitation_revoke", kwargs={"ws": ws, "pk": invitation.pk}), {}),
        ("get", reverse("workspace_settings", kwargs={"ws": ws}), {}),
        ("post", reverse("workspace_settings", kwargs={"ws": ws}), {"name": "Hijacked"}),
    ]


def test_anonymous_visitors_are_sent_to_login(client, team):
    response = client.get(reverse("dashboard", kwargs={"ws": "acme"}))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_another_workspace_is_invisible(client_for, team, other_team, role):
    client = client_for(other_team.user(role))
    assert client.get(reverse("dashboard", kwargs={"ws": "acme"})).status_code == 404
    for method, url, data in admin_urls(team):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert Membership.objects.filter(workspace=team.workspace).count() == 3
    assert list(Invitation.objects.values_list("email", flat=True)) == ["pending@example.com"]
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
    assert list(Invitation.objects.values_list("email", flat=True)) == ["pending@example.com"]


@pytest.mark.parametrize(
    ("url_name", "data"), [("member_role", {"role": "admin"}), ("member_remove", {})]
)
def test_an_admin_cannot_reach_a_membership_of_another_workspace_through_their_own(
    client_for, team, other_team, url_name, data
):
    acme_member = Membership.objects.get(workspace=team.workspace, user=team.member)
    url = reverse(url_name, kwargs={"ws": "globex", "pk": acme_member.pk})
    assert client_for(other_team.admin).post(url, data).status_code == 404
    acme_member.refresh_from_db()
    assert (acme_member.workspace, acme_member.role) == (team.workspace, Role.MEMBER)


def test_an_admin_cannot_revoke_an_invitation_of_another_workspace_through_their_own(
    client_for, team, other_team
):
    invitation = pending_invitation(team)
    url = reverse("invitation_revoke", kwargs={"ws": "globex", "pk": invitation.pk})
    assert client_for(other_team.admin).post(url).status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def invite_through_the_page(client, email, role="finance"):
    url = reverse("member_list", kwargs={"ws": "acme"})
    return client.post(url, {"email": email, "role": role})


def shown_token(response) -> str:
    return re.search(r"http://testserver/invite/([\w-]+)/", response.text).group(1)


def test_admin_invites_and_sees_the_link_once_in_the_page_only(client_for, team):
    client = client_for(team.admin)
    response = invite_through_the_page(client, "newcomer@example.com")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = shown_token(response)
    assert (
        "Invitation for newcomer@example.com created. This Turnbox sends no email, "
        "so send them this link yourself:" in response.text
    )
    assert "(shown only now; valid 7 days)" in response.text
    assert selectors.invitation_open_by_token(token=token).role == Role.FINANCE
    assert token not in str(response.cookies.get("messages", ""))
    again = client.get(reverse("member_list", kwargs={"ws": "acme"}))
    assert token not in again.text
    assert token not in str(again.cookies.get("messages", ""))


def test_the_answer_is_the_same_whether_or_not_an_account_exists(client_for, team, other_team):
    client = client_for(team.admin)
    pages = {}
    for email in (other_team.admin.email, "nobody@example.com"):
        response = invite_through_the_page(client, email)
        assert response.status_code == 200
        message = re.search(
            r'data-testid="invitation-created"[^>]*>(.*?)</div>', response.text, re.S
        )
        pages[email] = message.group(1).replace(email, "EMAIL").replace(shown_token(response), "T")
    assert pages[other_team.admin.email] == pages["nobody@example.com"]
    assert other_team.admin.full_name not in response.text
    assert not Membership.objects.filter(workspace=team.workspace, user=other_team.admin).exists()


def test_pending_invitations_show_the_email_and_never_a_name(client_for, team, other_team):
    client = client_for(team.admin)
    invite_through_the_page(client, other_team.member.email, role="member")
    page = client.get(reverse("member_list", kwargs={"ws": "acme"})).text
    row = re.search(r'<tr data-invitation="member@globex.test">.*?</tr>', page, re.S).group(0)
    assert "member@globex.test" in row and "Member" in row and team.admin.full_name in row
    assert other_team.member.full_name not in page


def test_inviting_a_member_says_they_are_already_a_member(client_for, team):
    response = invite_through_the_page(client_for(team.admin), "Member@Acme.test")
    assert response.status_code == 400
    assert "member@acme.test is already a member." in response.text
    assert not Invitation.objects.exists()


def test_inviting_a_bad_email_shows_the_error_next_to_the_field(client_for, team):
    response = invite_through_the_page(client_for(team.admin), "not-an-email")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.text


def test_an_email_of_255_characters_is_refused_next_to_the_field(client_for, team):
    assert len(TOO_LONG_EMAIL) == 255
    response = invite_through_the_page(client_for(team.admin), TOO_LONG_EMAIL)
    assert response.status_code == 400
    assert "Ensure this value has at most 254 characters" in response.text
    assert not Invitation.objects.exists()


def test_admin_revokes_an_invitation_and_its_link_stops_working(client, client_for, team):
    invitation, token = services.invitation_create(
        workspace=team.workspace, email="newcomer@example.com", role=Role.MEMBER
    )
    url = reverse("invitation_revoke", kwargs={"ws": "acme", "pk": invitation.pk})
    response = client_for(team.admin).post(url, follow=True)
    assert "The invitation for newcomer@example.com was revoked." in response.text
    assert not Invitation.objects.exists()
    assert client.get(reverse("invitation_accept", args=[token])).status_code == 404


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


def test_the_error_page_renders_without_a_request_context(client):
    response = server_error(client.get("/login/").wsgi_request)
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_a_wrong_password_gets_a_plain_message(client, team):
    response = client.post(reverse("login"), {"username": team.member.email, "password": "nope"})
    assert "That email and password do not match." in response.text


def test_pages_for_visitors_offer_no_account_links(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Log out" not in response.text
