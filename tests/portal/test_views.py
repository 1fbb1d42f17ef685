"""The portal's pages: where a person lands, the dashboard for every role, the settings."""

import pytest
from django.urls import reverse

from workspaces.access import LAST_WORKSPACE_SESSION_KEY
from workspaces.models import Membership, Role


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
