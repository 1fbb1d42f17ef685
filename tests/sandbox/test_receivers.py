"""The sandbox app's answers to the apps below it: a workspace's PixelML connection
stays while its sandboxes run."""

import pytest

from connections.models import Connection
from connections.signals import pixelml_deleting
from sandbox import services
from sandbox.receivers import pixelml_delete_refusal
from tests.agents.conftest import give_pixelml

pytestmark = pytest.mark.django_db


def open_record(workspace):
    return services.sandbox_session_create(
        workspace=workspace, started_by=None, purpose="turn", runtime="runc", image="x", owner=""
    )


def test_an_open_session_keeps_its_workspaces_pixelml_connection(team, other_team):
    give_pixelml(team.workspace, team.admin)
    pixelml = Connection.objects.get(workspace=team.workspace, kind="pixelml")
    record = open_record(team.workspace)
    open_record(other_team.workspace)  # another workspace's sessions do not count

    assert pixelml_delete_refusal(connection=pixelml).startswith(
        "1 sandbox session(s) of this workspace are running on this key."
    )
    services.sandbox_session_end(session=record, reason="closed")
    assert pixelml_delete_refusal(connection=pixelml) == ""


def test_the_sandbox_app_answers_the_connections_signal(team):
    give_pixelml(team.workspace, team.admin)
    pixelml = Connection.objects.get(workspace=team.workspace, kind="pixelml")
    open_record(team.workspace)

    answers = dict(pixelml_deleting.send(sender=Connection, connection=pixelml))

    assert answers[pixelml_delete_refusal].startswith("1 sandbox session(s)")
