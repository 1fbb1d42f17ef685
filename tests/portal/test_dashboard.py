"""The dashboard's cards: what each role is shown of the workspace."""

from django.urls import reverse

from connections.services import connection_create, pixelml_key_issue


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
