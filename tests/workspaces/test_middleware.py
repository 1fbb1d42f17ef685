from django.test import Client
from django.urls import reverse

from workspaces import services
from workspaces.models import Role


def test_a_one_time_password_opens_only_the_password_page_until_changed(team):
    membership, one_time = services.membership_add(
        workspace=team.workspace, email="fresh@example.com", role=Role.MEMBER
    )
    client = Client()
    client.post(reverse("login"), {"username": "fresh@example.com", "password": one_time})
    dashboard = reverse("dashboard", kwargs={"ws": team.workspace.slug})
    for url in (dashboard, reverse("home"), reverse("drive:browse", kwargs={"ws": "acme"})):
        assert client.get(url).url == reverse("password_change"), url
    page = client.get(reverse("password_change")).content.decode()
    assert "You logged in with a one-time password" in page

    new = "my-own-long-passphrase"
    client.post(
        reverse("password_change"),
        {"old_password": one_time, "new_password1": new, "new_password2": new},
    )
    assert client.get(dashboard).status_code == 200
    membership.user.refresh_from_db()
    assert not membership.user.must_change_password
    assert membership.user.check_password(new)


def test_a_person_can_still_log_out_before_changing(team):
    _, one_time = services.membership_add(
        workspace=team.workspace, email="fresh@example.com", role=Role.MEMBER
    )
    client = Client()
    client.post(reverse("login"), {"username": "fresh@example.com", "password": one_time})
    assert client.post(reverse("logout")).url == reverse("login")
