from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models.query import QuerySet
from django.utils import timezone

from workspaces import selectors, services
from workspaces.models import Invitation, Membership, Role, User, Workspace
from workspaces.signals import workspace_deleting

NEW_PASSWORD = "a-long-passphrase-of-my-own"


def test_it_creates_a_workspace_with_its_creator_as_admin(team):
    workspace = services.workspace_create(name="Acme", owner=team.member)
    assert workspace.slug == "acme-2"  # "acme" is taken by the fixture
    assert Membership.objects.get(workspace=workspace, user=team.member).role == Role.ADMIN


def test_it_refuses_a_blank_workspace_name(team):
    with pytest.raises(ValidationError, match="name"):
        services.workspace_create(name="   ", owner=team.admin)


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


def invite(team, email="newcomer@example.com", role=Role.FINANCE):
    return services.invitation_create(
        workspace=team.workspace, email=email, role=role, created_by=team.admin
    )


def test_inviting_stores_the_normalised_email_and_only_the_tokens_hash(team):
    invitation, token = invite(team, email="  New.Person@Example.COM ")
    assert invitation.email == "new.person@example.com"
    assert invitation.token_hash == selectors.invitation_token_hash(token)
    assert len(token) >= 40
    stored = Invitation.objects.filter(pk=invitation.pk).values().get()
    assert token not in {str(value) for value in stored.values()}
    assert stored["created_by_id"] == team.admin.pk
    days = (invitation.expires_at - timezone.now()) / timedelta(days=1)
    assert 6.99 < days <= 7 and invitation.expires_at.tzinfo is not None


def test_inviting_never_creates_an_account_nor_a_membership(team, other_team):
    invite(team, email="newcomer@example.com")
    invite(team, email=other_team.admin.email)
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert not Membership.objects.filter(workspace=team.workspace, user=other_team.admin).exists()


def test_inviting_again_replaces_the_token_and_the_old_link_dies(team):
    first, old_token = invite(team, role=Role.FINANCE)
    second, new_token = invite(team, role=Role.MEMBER)
    assert second.pk == first.pk and new_token != old_token
    assert Invitation.objects.filter(workspace=team.workspace).count() == 1
    assert selectors.invitation_open_by_token(token=old_token) is None
    assert selectors.invitation_open_by_token(token=new_token).role == Role.MEMBER


def test_inviting_again_renews_an_expired_invitation(team):
    invitation, _ = invite(team)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    _, token = invite(team)
    assert selectors.invitation_open_by_token(token=token).pk == invitation.pk


def test_inviting_a_member_is_refused_as_already_a_member(team):
    with pytest.raises(ValidationError, match=r"member@acme\.test is already a member"):
        invite(team, email="MEMBER@acme.test")
    assert not Invitation.objects.exists()


def test_inviting_refuses_an_unknown_role(team):
    with pytest.raises(ValidationError, match="Unknown role"):
        invite(team, role="owner")
    assert not Invitation.objects.exists()


def test_inviting_refuses_an_email_longer_than_the_column(team):
    email = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 58]) + ".com"
    assert len(email) == 255
    with pytest.raises(ValidationError, match="at most 254 characters"):
        invite(team, email=email)
    assert not Invitation.objects.exists()


def test_an_existing_account_accepts_and_joins_with_the_invited_role(team, other_team):
    invitation, token = invite(team, email=other_team.member.email.upper(), role=Role.FINANCE)
    membership = services.invitation_accept(token=token, user=other_team.member)
    assert (membership.workspace, membership.role) == (team.workspace, Role.FINANCE)
    invitation.refresh_from_db()
    assert invitation.accepted_by == other_team.member and invitation.accepted_at is not None
    assert selectors.invitation_open_by_token(token=token) is None


def test_a_new_person_accepts_by_creating_their_own_account(team):
    _, token = invite(team, role=Role.MEMBER)
    membership = services.invitation_accept_new_account(
        token=token, full_name=" Nina Newcomer ", password=NEW_PASSWORD
    )
    user = membership.user
    assert (user.email, user.full_name) == ("newcomer@example.com", "Nina Newcomer")
    assert user.check_password(NEW_PASSWORD)
    assert user.must_change_password is False  # they chose it; nobody else has seen it
    assert (membership.workspace, membership.role) == (team.workspace, Role.MEMBER)


def test_an_expired_invitation_cannot_be_accepted(team, other_team):
    invitation, token = invite(team, email=other_team.member.email)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    with pytest.raises(services.InvitationInvalidError, match="not valid any more"):
        services.invitation_accept(token=token, user=other_team.member)
    assert not Membership.objects.filter(workspace=team.workspace, user=other_team.member).exists()


def test_a_revoked_invitation_cannot_be_accepted(team):
    invitation, token = invite(team)
    services.invitation_revoke(invitation=invitation)
    assert not Invitation.objects.exists()
    with pytest.raises(services.InvitationInvalidError):
        services.invitation_accept_new_account(token=token, full_name="N", password=NEW_PASSWORD)
    assert not User.objects.filter(email="newcomer@example.com").exists()


def test_an_invitation_is_used_only_once(team):
    _, token = invite(team)
    services.invitation_accept_new_account(token=token, full_name="Nina", password=NEW_PASSWORD)
    newcomer = User.objects.get(email="newcomer@example.com")
    with pytest.raises(services.InvitationInvalidError):
        services.invitation_accept(token=token, user=newcomer)


def test_an_unknown_token_is_not_valid(team):
    invite(team)
    with pytest.raises(services.InvitationInvalidError):
        services.invitation_accept(token="made-up", user=team.member)


def test_another_account_cannot_accept_an_invitation_sent_to_someone_else(team, other_team):
    invitation, token = invite(team, email="newcomer@example.com")
    with pytest.raises(ValidationError, match="for another email address"):
        services.invitation_accept(token=token, user=other_team.admin)
    assert not Membership.objects.filter(workspace=team.workspace, user=other_team.admin).exists()
    assert selectors.invitation_open_by_token(token=token) == invitation


def test_accepting_when_already_a_member_keeps_the_membership_and_uses_the_invitation(
    team, other_team
):
    _, token = invite(team, email=other_team.admin.email, role=Role.ADMIN)
    existing = Membership.objects.create(
        user=other_team.admin, workspace=team.workspace, role=Role.FINANCE
    )
    membership = services.invitation_accept(token=token, user=other_team.admin)
    assert (membership.pk, membership.role) == (existing.pk, Role.FINANCE)
    assert selectors.invitation_open_by_token(token=token) is None


def test_a_new_account_for_an_email_that_got_one_meanwhile_is_refused_plainly(team):
    _, token = invite(team)
    User.objects.create_user("newcomer@example.com", "someone-elses-passphrase")
    with pytest.raises(ValidationError, match="An account with this email already exists"):
        services.invitation_accept_new_account(token=token, full_name="N", password=NEW_PASSWORD)
    assert not Membership.objects.filter(user__email="newcomer@example.com").exists()
    assert selectors.invitation_open_by_token(token=token) is not None


def test_an_account_created_in_the_same_instant_is_a_plain_error_not_a_crash(team, monkeypatch):
    _, token = invite(team)
    User.objects.create_user("newcomer@example.com", "someone-elses-passphrase")
    # The other sign-up commits between our existence check and our insert.
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)
    with pytest.raises(ValidationError, match="An account with this email already exists"):
        services.invitation_accept_new_account(token=token, full_name="N", password=NEW_PASSWORD)
    assert User.objects.filter(email="newcomer@example.com").count() == 1


def test_a_new_account_needs_a_strong_password(team):
    _, token = invite(team)
    with pytest.raises(ValidationError, match="too common"):
        services.invitation_accept_new_account(token=token, full_name="N", password="password")
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert selectors.invitation_open_by_token(token=token) is not None


def test_deleting_a_workspace_tells_the_apps_built_on_it_first(team):
    heard = []

    def receiver(sender, *, workspace, **kwargs):
        heard.append((workspace.pk, Workspace.objects.filter(pk=workspace.pk).exists()))

    pk = team.workspace.pk
    workspace_deleting.connect(receiver)
    try:
        services.workspace_delete(workspace=team.workspace)
    finally:
        workspace_deleting.disconnect(receiver)
    assert heard == [(pk, True)]
    assert not Workspace.objects.filter(pk=pk).exists()


def test_a_receiver_that_fails_keeps_the_workspace(team):
    def receiver(sender, **kwargs):
        raise RuntimeError("storage is down")

    workspace_deleting.connect(receiver)
    try:
        with pytest.raises(RuntimeError):
            services.workspace_delete(workspace=team.workspace)
    finally:
        workspace_deleting.disconnect(receiver)
    assert Workspace.objects.filter(pk=team.workspace.pk).exists()
