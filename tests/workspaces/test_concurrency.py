"""Races that only a real multi-connection database shows (run on PostgreSQL)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from workspaces import services
from workspaces.models import Membership, Role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the test command runs the suite on it too",
    ),
]


def run_at_once(*calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except ValidationError as error:
            outcomes[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


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
        ]
    )
    assert sorted(map(str, outcomes)).count("ok") == 1
    assert Membership.objects.filter(workspace=team.workspace, role=Role.ADMIN).count() == 1
