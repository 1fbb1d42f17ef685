"""The websocket access check: one answer for every way of not being let in."""

import pytest
from django.contrib.auth.models import AnonymousUser

from workspaces.models import Role
from workspaces.sockets import socket_membership


def scope(user, slug="acme") -> dict:
    return {"user": user, "url_route": {"kwargs": {"ws": slug}}}


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_every_role_gets_in_when_no_role_is_named(team, role):
    membership = socket_membership(scope(team.user(role)))
    assert (membership.workspace, membership.role) == (team.workspace, role)


@pytest.mark.parametrize(("role", "admitted"), [("admin", True), ("member", False)])
def test_only_the_named_roles_get_in(team, role, admitted):
    found = socket_membership(scope(team.user(role)), roles=[Role.ADMIN])
    assert (found is not None) is admitted


def test_nobody_reaches_another_workspace_or_one_that_does_not_exist(team, other_team):
    assert socket_membership(scope(other_team.admin)) is None
    assert socket_membership(scope(team.admin, slug="nowhere")) is None


def test_anonymous_and_missing_users_are_refused(team):
    assert socket_membership(scope(AnonymousUser())) is None
    assert socket_membership({"url_route": {"kwargs": {"ws": "acme"}}}) is None


def test_asking_again_sees_a_deactivated_account_and_a_lost_role(team):
    # The scope keeps the user object of connect time; the check reads the database.
    member, admin = team.member, team.admin
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    assert socket_membership(scope(member)) is None
    team.workspace.memberships.filter(user=admin).update(role=Role.FINANCE)
    assert socket_membership(scope(admin), roles=[Role.ADMIN]) is None


def test_asking_again_is_about_the_workspace_found_at_connect(team, other_team):
    assert socket_membership(scope(team.admin), workspace_id=other_team.workspace.pk) is None
    found = socket_membership(scope(team.admin), workspace_id=team.workspace.pk)
    assert found.workspace == team.workspace
