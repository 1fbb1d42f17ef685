import pytest
from django.core.exceptions import ValidationError

from workspaces import services
from workspaces.models import Membership, Role, User


def test_it_creates_a_workspace_with_its_creator_as_admin(team):
    workspace = services.workspace_create(name="Acme", owner=team.member)
    assert workspace.slug == "acme-2"  # "acme" is taken by the fixture
    assert Membership.objects.get(workspace=workspace, user=team.member).role == Role.ADMIN


def test_it_refuses_a_blank_workspace_name(team):
    with pytest.raises(ValidationError, match="name"):
        services.workspace_create(name="   ", owner=team.admin)


def test_adding_an_unknown_email_creates_an_account_with_a_one_time_password(team):
    membership, password = services.membership_add(
        workspace=team.workspace, email="New.Person@Example.com", role=Role.FINANCE
    )
    user = User.objects.get(email="new.person@example.com")
    assert membership.user == user and membership.role == Role.FINANCE
    assert password and user.check_password(password)


def test_adding_an_existing_account_keeps_its_password(team, other_team):
    membership, password = services.membership_add(
        workspace=team.workspace, email=other_team.admin.email.upper(), role=Role.MEMBER
    )
    assert password is None
    assert membership.user == other_team.admin


def test_it_refuses_to_add_someone_twice(team):
    with pytest.raises(ValidationError, match="already a member"):
        services.membership_add(workspace=team.workspace, email=team.member.email, role="member")


def test_it_refuses_an_unknown_role(team):
    with pytest.raises(ValidationError, match="Unknown role"):
        services.membership_add(workspace=team.workspace, email="x@example.com", role="owner")
    assert not User.objects.filter(email="x@example.com").exists()


def test_the_last_admin_cannot_remove_themself(team):
    admin = Membership.objects.get(user=team.admin, workspace=team.workspace)
    with pytest.raises(ValidationError, match="at least one admin"):
        services.membership_remove(membership=admin)
    assert Membership.objects.filter(pk=admin.pk).exists()


def test_the_last_admin_cannot_step_down(team):
    admin = Membership.objects.get(user=team.admin, workspace=team.workspace)
    with pytest.raises(ValidationError, match="at least one admin"):
        services.membership_change_role(membership=admin, role=Role.MEMBER)
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_an_admin_can_leave_once_another_admin_exists(team):
    member = Membership.objects.get(user=team.member, workspace=team.workspace)
    services.membership_change_role(membership=member, role=Role.ADMIN)
    admin = Membership.objects.get(user=team.admin, workspace=team.workspace)
    services.membership_remove(membership=admin)
    assert not Membership.objects.filter(pk=admin.pk).exists()


def test_user_create_validates_password_strength(db):
    with pytest.raises(ValidationError):
        services.user_create(email="weak@example.com", password="123")
    assert not User.objects.filter(email="weak@example.com").exists()


def test_an_account_made_with_a_one_time_password_must_choose_its_own(team, other_team):
    fresh, _ = services.membership_add(
        workspace=team.workspace, email="fresh@example.com", role=Role.MEMBER
    )
    existing, _ = services.membership_add(
        workspace=team.workspace, email=other_team.member.email, role=Role.MEMBER
    )
    assert fresh.user.must_change_password is True
    assert existing.user.must_change_password is False
