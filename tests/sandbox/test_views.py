"""The workspace's network policy: the settings page, who may change it, and what it stores."""

import pytest
from django.urls import reverse

from sandbox.models import SandboxPolicy
from sandbox.network import Mode, NetworkPolicy, Rule
from sandbox.selectors import workspace_network_policy

pytestmark = pytest.mark.django_db


def network_url(team) -> str:
    return reverse("sandbox_network_policy", kwargs={"ws": team.workspace.slug})


def settings_url(team) -> str:
    return reverse("workspace_settings", kwargs={"ws": team.workspace.slug})


def post(client, team, **data):
    return client.post(network_url(team), {"mode": "allowlist", "domains": "", **data})


def test_the_settings_page_shows_the_network_policy_to_admins(client_for, team):
    page = client_for(team.admin).get(settings_url(team))
    assert page.status_code == 200
    assert b"Sandbox network" in page.content
    assert b"Python packages: pypi.org, files.pythonhosted.org" in page.content
    assert b'value="open"' not in page.content  # the operator has not allowed it


def test_an_admin_saves_an_allowlist_and_new_sessions_get_it(client_for, team):
    answer = post(
        client_for(team.admin),
        team,
        domains="PyPI.org\n\n*.Example.org\napi.example.com:8443\n",
        preset_python_packages="on",
    )
    assert answer.status_code == 302
    assert answer["Location"] == settings_url(team) + "#network"
    row = SandboxPolicy.objects.get(workspace=team.workspace)
    assert row.allowed_domains == ["pypi.org", "*.example.org", "api.example.com:8443"]
    assert row.network_presets == ["python-packages"]
    policy = workspace_network_policy(workspace=team.workspace)
    assert policy.mode == Mode.ALLOWLIST
    assert policy.allows("files.pythonhosted.org", 443)
    assert policy.allows("a.example.org", 80)
    assert not policy.allows("example.org", 443)
    page = client_for(team.admin).get(settings_url(team))
    assert b"*.example.org" in page.content
    assert b'name="preset_python_packages" id="id_preset_python_packages" checked' in page.content


def test_bad_domains_are_named_and_nothing_is_saved(client_for, team):
    answer = post(client_for(team.admin), team, domains="pypi.org\nhttps://x.org\n10.0.0.1\n*")
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "write the domain alone (pypi.org), not a URL" in text
    assert "list domain names, not IP addresses" in text
    assert "choose the open policy" in text
    assert not SandboxPolicy.objects.filter(workspace=team.workspace).exists()


def test_an_empty_allowlist_is_refused(client_for, team):
    answer = post(client_for(team.admin), team)
    assert answer.status_code == 400
    assert "List at least one domain, or tick a preset." in answer.content.decode()


def test_open_needs_the_operators_consent(client_for, team, settings):
    refused = post(client_for(team.admin), team, mode="open")
    assert refused.status_code == 400
    assert workspace_network_policy(workspace=team.workspace) == NetworkPolicy.none()
    settings.TURNBOX_EGRESS_ALLOW_OPEN = True
    assert post(client_for(team.admin), team, mode="open").status_code == 302
    assert workspace_network_policy(workspace=team.workspace) == NetworkPolicy.open()
    # Withdrawn later: the stored choice counts as no network.
    settings.TURNBOX_EGRESS_ALLOW_OPEN = False
    assert workspace_network_policy(workspace=team.workspace) == NetworkPolicy.none()


def test_switching_the_network_off_keeps_the_list_for_later(client_for, team):
    client = client_for(team.admin)
    post(client, team, domains="pypi.org")
    assert post(client, team, mode="none", domains="pypi.org").status_code == 302
    assert workspace_network_policy(workspace=team.workspace) == NetworkPolicy.none()
    assert SandboxPolicy.objects.get(workspace=team.workspace).allowed_domains == ["pypi.org"]


def test_the_timeout_and_memory_maximums_are_left_alone(client_for, team):
    SandboxPolicy.objects.create(workspace=team.workspace, max_timeout_seconds=10, max_memory_mb=64)
    post(client_for(team.admin), team, domains="pypi.org")
    row = SandboxPolicy.objects.get(workspace=team.workspace)
    assert (row.max_timeout_seconds, row.max_memory_mb) == (10, 64)


@pytest.mark.parametrize("role", ["member", "finance"])
def test_only_admins_change_it(client_for, team, role):
    answer = post(client_for(team.user(role)), team, domains="pypi.org")
    assert answer.status_code == 403
    assert not SandboxPolicy.objects.filter(workspace=team.workspace).exists()


def test_another_workspaces_admin_gets_a_404(client_for, team, other_team):
    answer = post(client_for(other_team.admin), team, domains="pypi.org")
    assert answer.status_code == 404
    assert not SandboxPolicy.objects.filter(workspace=team.workspace).exists()


def test_a_visitor_is_sent_to_log_in_and_a_get_is_not_allowed(client, client_for, team):
    answer = post(client, team, domains="pypi.org")
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("login"))
    assert client_for(team.admin).get(network_url(team)).status_code == 405


def test_stored_entries_a_later_release_refuses_are_skipped(team):
    SandboxPolicy.objects.create(
        workspace=team.workspace,
        network_policy="allowlist",
        allowed_domains=["pypi.org", "not a domain"],
        network_presets=["no-such-preset"],
    )
    policy = workspace_network_policy(workspace=team.workspace)
    assert policy.rules == (Rule("pypi.org"),)
