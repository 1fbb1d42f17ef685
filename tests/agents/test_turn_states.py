"""A turn's state (agents.turn_states): decided once as the turn ends, from its ending,
its last sandbox step and what its runner learnt, and told with the state's label first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import ToolCall, Turn
from agents.services import turns as services
from agents.tools.code import PYTHON, SHELL
from agents.turn_states import is_bad, state_of, status_text

pytestmark = pytest.mark.django_db

State, Status = Turn.State, Turn.Status


@pytest.mark.parametrize(
    ("status", "last_step", "hint", "state"),
    [
        (Status.ANSWERED, "", "", State.ANSWERED),
        (Status.ANSWERED, "ok", "", State.ANSWERED),
        (Status.ANSWERED, "timeout", "", State.TIMED_OUT),
        (Status.ANSWERED, "error", "", State.FAILED),
        (Status.ANSWERED, "killed", "", State.FAILED),
        (Status.ANSWERED, "error", State.OUT_OF_CREDITS, State.OUT_OF_CREDITS),
        (Status.ERROR, "ok", "", State.FAILED),
        (Status.ERROR, "", State.TIMED_OUT, State.TIMED_OUT),
        (Status.CANCELLED, "timeout", State.OUT_OF_CREDITS, State.STOPPED),
        (Status.DISCONNECTED, "", "", State.STOPPED),
        (Status.INTERRUPTED, "", "", State.STOPPED),
        (Status.STEP_LIMIT, "error", "", State.STOPPED),
        (Status.RUNNING, "timeout", "", ""),
        (Status.QUEUED, "", "", ""),
    ],
)
def test_it_decides_the_state_a_person_reads(status, last_step, hint, state):
    assert state_of(status=status, last_step=last_step, hint=hint) == state


def ended(conversation, **fields) -> Turn:
    start = timezone.now() - timedelta(seconds=31)
    return Turn(
        conversation=conversation,
        index=1,
        user_message="go",
        started_at=start,
        ended_at=start + timedelta(milliseconds=30_700),
        **fields,
    )


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"status": "answered", "state": "answered"}, "Answered in 30.7 s"),
        (
            {"status": "answered", "state": "timed_out"},
            "Timed out: the last code run reached its time limit; the agent answered in 30.7 s",
        ),
        (
            {"status": "answered", "state": "failed", "error_message": "Older turns dropped."},
            "Failed: the last code run did not succeed; the agent answered in 30.7 s. "
            "Older turns dropped.",
        ),
        (
            {"status": "answered", "state": "out_of_credits"},
            "Out of credits: code could not run; the agent answered in 30.7 s",
        ),
        (
            {"status": "error", "state": "timed_out", "error_message": "Over 15 min."},
            "Timed out: Over 15 min.",
        ),
        ({"status": "error", "state": "failed", "error_message": "Boom."}, "Failed: Boom."),
        ({"status": "cancelled", "state": "stopped"}, "Stopped by you"),
        (
            {"status": "step_limit", "state": "stopped", "error_message": "All 3 steps."},
            "Stopped at the step limit: All 3 steps.",
        ),
        ({"status": "interrupted", "state": "stopped"}, "Stopped: the server shut down"),
        (
            {"status": "interrupted", "state": "stopped", "error_message": "A crash."},
            "Stopped: A crash.",
        ),
        ({"status": "running"}, ""),
    ],
)
def test_the_status_line_starts_with_the_state(conversation, fields, text):
    turn = ended(conversation, **fields)
    assert status_text(turn) == text
    if turn.is_finished:
        assert text.startswith(Turn.State(turn.state).label)
        assert is_bad(turn) == (turn.state != "answered")


def test_finishing_records_the_state_of_its_last_sandbox_step(conversation):
    turn = services.turn_create(conversation=conversation, text="go")
    services.turn_start(turn=turn)
    for seq, (name, status) in enumerate([(PYTHON, "timeout"), (SHELL, "ok")], start=1):
        ToolCall.objects.create(turn=turn, seq=seq, call_id=str(seq), name=name, status=status)
    # A skill read after the code is no sandbox step: the shell command's "ok" decides.
    ToolCall.objects.create(turn=turn, seq=3, call_id="3", name="read_skill", status="error")

    finished = services.turn_finish(turn=turn, status=Status.ANSWERED)

    assert finished.state == State.ANSWERED
    ToolCall.objects.filter(turn=turn, seq=2).update(status="error")
    Turn.objects.filter(pk=turn.pk).update(status=Status.RUNNING, state="")
    assert services.turn_finish(turn=turn, status=Status.ANSWERED).state == State.FAILED


def test_a_turn_stopped_while_queued_is_stopped(conversation):
    turn = services.turn_create(conversation=conversation, text="go")
    services.turn_request_stop(turn=turn)
    turn.refresh_from_db()
    assert (turn.status, turn.state) == (Status.CANCELLED, State.STOPPED)


def test_the_first_ending_keeps_its_state(conversation):
    turn = services.turn_create(conversation=conversation, text="go")
    services.turn_start(turn=turn)
    services.turn_finish(turn=turn, status=Status.ERROR, message="Boom.")
    again = services.turn_finish(turn=turn, status=Status.ANSWERED, hint=State.OUT_OF_CREDITS)
    assert (again.status, again.state) == (Status.ERROR, State.FAILED)
