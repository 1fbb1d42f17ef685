"""The invitation link, opened by each kind of visitor; it works without logging in."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD, postgres_only, run_at_once
from workspaces import selectors, services
from workspaces.models import Invitation, Membership, Role, User

NEW_PASSWORD = "a-long-passphrase-of-my-own"
NOT_VALID = "This invitation is not valid any more; ask the admin for a new one."


@pytest.fixture
def invited(team):
    """An invitation to Acme as finance for someone without an account, and its link."""
    invitation, token = services.invitation_create(
        workspace=team.workspace, email="newcomer@example.com", role=Role.FINANCE
    )
    return invitation, reverse("invitation_accept", args=[token])


@pytest.fixture
def invited_account(team, other_team):
    """An invitation to Acme as member for Globex's member, who has an account."""
    invitation, token = services.invitation_create(
        workspace=team.workspace, email=other_team.member.email, role=Role.MEMBER
    )
    return invitation, reverse("invitation_accept", args=[token])


def signup(name="Nina Newcomer", password=NEW_PASSWORD, confirmation=None) -> dict:
    return {"full_name": name, "password1": password, "password2": confirmation or password}


def joined(user, team) -> Membership | None:
    return Membership.objects.filter(user=user, workspace=team.workspace).first()


def test_a_newcomer_sees_the_workspace_and_role_and_a_form_to_create_their_account(client, invited):
    response = client.get(invited[1])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "You are invited to the workspace <strong>Acme</strong> as <strong>Finance</strong>" in (
        response.text
    )
    assert 'name="password2"' in response.text and "newcomer@example.com" in response.text


def test_a_newcomer_creates_their_account_and_lands_in_the_workspace(client, team, invited):
    response = client.post(invited[1], signup())
    assert response.url == reverse("dashboard", kwargs={"ws": "acme"})
    user = User.objects.get(email="newcomer@example.com")
    assert user.full_name == "Nina Newcomer" and user.check_password(NEW_PASSWORD)
    assert not user.must_change_password
    assert joined(user, team).role == Role.FINANCE
    page = client.get(response.url)
    assert page.status_code == 200 and "Welcome to Acme" in page.text
    assert client.get(invited[1]).status_code == 404  # used up


def test_a_newcomers_passwords_must_match(client, invited):
    response = client.post(invited[1], signup(confirmation="something-else-entirely"))
    assert response.status_code == 400
    assert "The two passwords do not match." in response.text
    assert not User.objects.filter(email="newcomer@example.com").exists()


@pytest.mark.parametrize(
    ("password", "complaint"),
    [("password", "too common"), ("short1", "too short"), ("newcomer-example", "too similar")],
)
def test_a_newcomers_password_goes_through_djangos_validators(client, invited, password, complaint):
    response = client.post(invited[1], signup(password=password))
    assert response.status_code == 400
    assert complaint in response.text
    assert not User.objects.filter(email="newcomer@example.com").exists()


def test_a_visitor_with_an_account_is_asked_to_log_in_and_comes_back(
    client, team, other_team, invited_account
):
    url = invited_account[1]
    response = client.get(url)
    login_link = f"{reverse('login')}?next={url}"
    assert "Log in to accept" in response.text and f'href="{login_link}"' in response.text
    assert 'name="password1"' not in response.text
    # Posting a sign-up anyway neither creates nor joins anything.
    client.post(url, signup())
    assert joined(other_team.member, team) is None
    credentials = {"username": other_team.member.email, "password": PASSWORD, "next": url}
    assert client.post(reverse("login"), credentials).url == url


def test_the_invited_account_joins_with_one_click(client_for, team, other_team, invited_account):
    client = client_for(other_team.member)
    page = client.get(invited_account[1])
    assert "Join Acme</button>" in page.text
    assert joined(other_team.member, team) is None  # opening the link is not accepting it
    response = client.post(invited_account[1])
    assert response.url == reverse("dashboard", kwargs={"ws": "acme"})
    assert joined(other_team.member, team).role == Role.MEMBER
    invitation = Invitation.objects.get(pk=invited_account[0].pk)
    assert invitation.accepted_by == other_team.member


def test_another_account_is_told_the_invitation_is_for_someone_else(
    client_for, team, other_team, invited_account
):
    client = client_for(other_team.admin)
    page = client.get(invited_account[1]).text
    assert f"This invitation is for {other_team.member.email}" in page
    assert f"you are logged in as {other_team.admin.email}" in page
    assert f'action="{reverse("logout")}"' in page
    client.post(invited_account[1])
    assert joined(other_team.admin, team) is None
    assert client.post(reverse("logout"), {"next": invited_account[1]}).url == invited_account[1]


def test_an_unknown_link_is_not_valid(client, team):
    response = client.get(reverse("invitation_accept", args=["no-such-token"]))
    assert response.status_code == 404
    assert NOT_VALID in response.text


def test_an_expired_link_is_not_valid(client, invited):
    Invitation.objects.filter(pk=invited[0].pk).update(expires_at=timezone.now())
    for response in (client.get(invited[1]), client.post(invited[1], signup())):
        assert response.status_code == 404
        assert NOT_VALID in response.text
    assert not User.objects.filter(email="newcomer@example.com").exists()


def test_a_link_revoked_while_the_form_was_open_is_not_valid(client, invited):
    client.get(invited[1])
    services.invitation_revoke(invitation=invited[0])
    response = client.post(invited[1], signup())
    assert response.status_code == 404
    assert not User.objects.filter(email="newcomer@example.com").exists()


def test_a_used_link_is_not_valid_even_for_the_person_who_used_it(
    client_for, team, other_team, invited_account
):
    client = client_for(other_team.member)
    client.post(invited_account[1])
    assert client.post(invited_account[1]).status_code == 404
    assert Membership.objects.filter(user=other_team.member, workspace=team.workspace).count() == 1


# --- Races, on PostgreSQL -----------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_admins_inviting_one_address_at_once_leave_one_working_link(team):
    Membership.objects.filter(user=team.member).update(role=Role.ADMIN)
    tokens = []

    def invite(admin):
        tokens.append(
            services.invitation_create(
                workspace=team.workspace, email="x@example.com", role="member", created_by=admin
            )[1]
        )

    assert run_at_once(
        lambda: invite(team.admin), lambda: invite(team.member), refusals=(ValidationError,)
    ) == ["ok", "ok"]
    assert Invitation.objects.count() == 1
    assert sum(selectors.invitation_open_by_token(token=t) is not None for t in tokens) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_one_link_accepted_twice_at_once_makes_one_account(team):
    _, token = services.invitation_create(
        workspace=team.workspace, email="newcomer@example.com", role=Role.MEMBER
    )

    def accept():
        services.invitation_accept_new_account(token=token, full_name="N", password=NEW_PASSWORD)

    outcomes = run_at_once(accept, accept, refusals=(ValidationError,))
    assert outcomes.count("ok") == 1
    assert User.objects.filter(email="newcomer@example.com").count() == 1
    assert Membership.objects.filter(user__email="newcomer@example.com").count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workspaces_signing_up_one_newcomer_at_once_make_one_account(team, other_team):
    tokens = [
        services.invitation_create(workspace=t.workspace, email="n@example.com", role="member")[1]
        for t in (team, other_team)
    ]
    outcomes = run_at_once(
        *[
            lambda t=t: services.invitation_accept_new_account(
                token=t, full_name="N", password=NEW_PASSWORD
            )
            for t in tokens
        ],
        refusals=(ValidationError,),
    )
    assert outcomes.count("ok") == 1
    assert "An account with this email already exists." in str(outcomes)
    assert User.objects.filter(email="n@example.com").count() == 1
