"""Races that only a real multi-connection database shows (run on PostgreSQL)."""

import pytest
from django.core.exceptions import ValidationError

from tests.conftest import postgres_only, run_at_once
from workspaces import services
from workspaces.models import Membership, Role

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]


@pytest.mark.parametrize("repeat", range(5))
def test_two_admins_stepping_down_at_once_leave_one_admin(team, repeat):
    services.membership_change_role(
        membership=Membership.objects.get(user=team.member, workspace=team.workspace),
        role=Role.ADMIN,
    )
    admins = list(Membership.objects.filter(workspace=team.workspace, role=Role.ADMIN))
    outcomes = run_at_once(
        *[
            lambda m=m: services.membership_change_role(membership=m, role=Role.MEMBER)
            for m in admins
        ],
        refusals=(ValidationError,),
    )
    assert sorted(map(str, outcomes)).count("ok") == 1
    assert Membership.objects.filter(workspace=team.workspace, role=Role.ADMIN).count() == 1
