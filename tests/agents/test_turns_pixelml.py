"""Revoking a workspace's PixelML key or deleting its PixelML connection stops its
running turns at once, in plain words, and charges what their code ran."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from agents.models import ToolCall, Turn
from agents.services import turns as services
from agents.turns import turn_execute
from billing.models import LedgerEntry
from connections import services as connection_services
from connections.models import Connection
from connections.signals import CONNECTION_DELETED, KEY_REVOKED
from tests.agents.conftest import give_pixelml
from tests.agents.test_consumers import LONG_LOOP
from tests.agents.test_turns import Collect, assert_sandbox_gone
from tests.conftest import run_in_new_loop

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


def withdraw(workspace, how: str) -> None:
    connection = Connection.objects.get(workspace=workspace, kind="pixelml")
    if how == "revoke":
        connection_services.pixelml_key_revoke(key=connection.pixelml_key)
    else:
        connection_services.connection_delete(connection=connection)


@pytest.mark.parametrize("how", ["revoke", "delete"])
def test_a_running_turn_stops_soon_after_its_pixelml_connection_goes(conversation, how):
    key = Connection.objects.get(workspace=conversation.workspace, kind="pixelml").pixelml_key
    turn = services.turn_create(conversation=conversation, text=LONG_LOOP)
    sink = Collect()

    async def run_and_withdraw():
        task = asyncio.ensure_future(turn_execute(turn.pk, publisher=sink))
        while "stdout" not in sink.types():
            await asyncio.sleep(0.02)
        await database_sync_to_async(withdraw)(conversation.workspace, how)
        withdrawn_at = time.monotonic()
        status = await asyncio.wait_for(task, 10)
        return status, time.monotonic() - withdrawn_at

    status, took = run_in_new_loop(run_and_withdraw())

    why = KEY_REVOKED if how == "revoke" else CONNECTION_DELETED
    assert status == Turn.Status.ERROR
    assert took < 2, f"the turn ran on for {took:.1f} s"
    turn.refresh_from_db()
    assert turn.error_message == why and sink.events[-1]["message"] == why
    # Switched off is not out of credits: the turn failed, in the same words live.
    assert turn.state == Turn.State.FAILED
    assert sink.events[-1]["status_text"] == f"Failed: {why}"
    # Whichever sees the withdrawal first stops the code: the turn's watcher (cancelled)
    # or the session's own credit check (killed, saying why).
    call = turn.tool_calls.get()
    assert call.status == ToolCall.Status.CANCELLED or (
        call.status == ToolCall.Status.KILLED and "Stopped: this workspace" in call.result
    )
    assert_sandbox_gone(turn)
    [entry] = LedgerEntry.objects.filter(kind="usage", session_id=turn.sandbox_session_id)
    assert entry.account.key == key and entry.active_ms > 0


def test_a_queued_turn_of_a_workspace_whose_key_is_revoked_never_starts(conversation):
    turn = services.turn_create(conversation=conversation, text=LONG_LOOP)

    withdraw(conversation.workspace, "revoke")

    turn.refresh_from_db()
    assert turn.status == Turn.Status.ERROR and turn.error_message == KEY_REVOKED
    run_in_new_loop(turn_execute(turn.pk, publisher=Collect()))  # a worker picks it up late
    turn.refresh_from_db()
    assert turn.status == Turn.Status.ERROR and turn.sandbox_session_id is None


def test_turns_of_other_workspaces_run_on(conversation, other_team):
    give_pixelml(other_team.workspace, other_team.admin)
    turn = services.turn_create(conversation=conversation, text=LONG_LOOP)

    withdraw(other_team.workspace, "delete")

    turn.refresh_from_db()
    assert turn.status == Turn.Status.QUEUED and turn.stop_requested == ""
