"""Accounts an operator creates with a one-time password (``must_change_password``)."""

import pytest
from django.test import Client
from django.urls import reverse

from workspaces.models import Membership, Role, User

ONE_TIME = "handed-over-once-42"


@pytest.fixture
def fresh(team) -> Membership:
    user = User.objects.create_user("fresh@example.com", ONE_TIME, must_change_password=True)
    return Membership.objects.create(user=user, workspace=team.workspace, role=Role.MEMBER)


def test_a_one_time_password_opens_only_the_password_page_until_changed(fresh):
    client = Client()
    client.post(reverse("login"), {"username": "fresh@example.com", "password": ONE_TIME})
    dashboard = reverse("dashboard", kwargs={"ws": fresh.workspace.slug})
    for url in (dashboard, reverse("home"), reverse("drive:browse", kwargs={"ws": "acme"})):
        assert client.get(url).url == reverse("password_change"), url
    page = client.get(reverse("password_change")).content.decode()
    assert "Your password was set by the operator" in page

    new = "my-own-long-passphrase"
    client.post(
        reverse("password_change"),
        {"old_password": ONE_TIME, "new_password1": new, "new_password2": new},
    )
    assert client.get(dashboard).status_code == 200
    fresh.user.refresh_from_db()
    assert not fresh.user.must_change_password
    assert fresh.user.check_password(new)


def test_a_person_can_still_log_out_before_changing(fresh):
    client = Client()
    client.post(reverse("login"), {"username": "fresh@example.com", "password": ONE_TIME})
    assert client.post(reverse("logout")).url == reverse("login")
