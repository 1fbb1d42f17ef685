import subprocess
import sys
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import Agent, Conversation, ToolCall, Turn
from agents.services import turns as services
from sandbox.owners import owner_id
from sandbox.reaper import reap
from tests.agents.test_consumers import communicator
from tests.conftest import free_port, postgres_only, run_at_once, run_in_new_loop


def test_the_first_message_titles_the_conversation(conversation):
    services.turn_create(conversation=conversation, text="  Plot   the\nQ4 sales  ")
    conversation.refresh_from_db()
    assert conversation.title == "Plot the Q4 sales"


def test_turns_are_numbered_within_their_conversation(conversation):
    first = services.turn_create(conversation=conversation, text="one")
    services.turn_finish(turn=first, status=Turn.Status.ANSWERED)
    second = services.turn_create(conversation=conversation, text="two")
    assert (first.index, second.index) == (1, 2)


def test_a_second_turn_waits_for_the_open_one(conversation):
    services.turn_create(conversation=conversation, text="one")
    with pytest.raises(services.TurnAlreadyRunning, match="still running"):
        services.turn_create(conversation=conversation, text="two")


@pytest.mark.parametrize(
    ("text", "error"),
    [("   ", "Type a message first."), ("x" * 100_001, "at most 100,000 characters")],
)
def test_it_refuses_an_empty_or_oversized_message(conversation, text, error):
    with pytest.raises(ValidationError, match=error):
        services.turn_create(conversation=conversation, text=text)
    assert not Turn.objects.exists()


def test_a_conversation_needs_an_agent_of_its_workspace(paid_team, other_team):
    foreign = Agent.objects.create(workspace=other_team.workspace, name="Theirs")
    with pytest.raises(ValidationError, match="not in this workspace"):
        services.conversation_create(
            workspace=paid_team.workspace, agent=foreign, user=paid_team.member
        )


def test_stopping_a_queued_turn_ends_it_at_once(conversation):
    turn = services.turn_create(conversation=conversation, text="one")

    services.turn_request_stop(turn=turn)

    turn.refresh_from_db()
    assert turn.status == Turn.Status.CANCELLED and turn.ended_at is not None
    assert services.turn_start(turn=turn) is False


def test_a_turn_keeps_its_first_ending(conversation):
    turn = services.turn_create(conversation=conversation, text="one")
    services.turn_start(turn=turn)
    services.turn_finish(turn=turn, status=Turn.Status.ANSWERED)
    services.turn_finish(turn=turn, status=Turn.Status.ERROR, message="late")
    turn.refresh_from_db()
    assert (turn.status, turn.error_message) == (Turn.Status.ANSWERED, "")


def test_a_conversation_with_a_running_turn_is_not_deleted(conversation):
    services.turn_create(conversation=conversation, text="one")
    with pytest.raises(services.TurnAlreadyRunning):
        services.conversation_delete(conversation=conversation)


def dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host, _, _ = owner_id().split("/")
    return f"{host}/{child.pid}/1"


@pytest.mark.usefixtures("docker_engine")
def test_the_reaper_ends_turns_whose_process_died(conversation):
    turn = services.turn_create(conversation=conversation, text="one")
    services.turn_start(turn=turn)
    call = services.tool_call_start(turn=turn, call_id="c1", name="x", arguments={})
    Turn.objects.filter(pk=turn.pk).update(runner=dead_owner())

    reap()

    turn.refresh_from_db()
    assert turn.status == Turn.Status.INTERRUPTED
    assert "process running this turn stopped" in turn.error_message
    call.refresh_from_db()
    assert call.status == ToolCall.Status.CANCELLED


@pytest.mark.usefixtures("docker_engine")
def test_the_reaper_leaves_turns_of_live_processes_alone(conversation):
    turn = services.turn_create(conversation=conversation, text="one")
    services.turn_start(turn=turn)

    reap()

    turn.refresh_from_db()
    assert turn.status == Turn.Status.RUNNING


@pytest.mark.usefixtures("transactional_db")
def test_it_tells_the_open_pages_that_the_reaper_ended_their_turn(conversation):
    """The page of a turn whose worker was killed learns of its ending as it would of any
    other: a turn_finished event on the conversation's real websocket."""
    turn = services.turn_create(conversation=conversation, text="one")
    services.turn_start(turn=turn)
    Turn.objects.filter(pk=turn.pk).update(runner=dead_owner())

    async def watch():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        ended = await database_sync_to_async(services.turns_orphaned_end)()
        event = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return ended, event

    ended, event = run_in_new_loop(watch())

    turn.refresh_from_db()
    assert ended == 1
    assert event == {
        "type": "turn_finished",
        "turn": str(turn.pk),
        "status": "interrupted",
        "state": "stopped",
        "status_text": f"Stopped: {services.ORPHANED}",
        "message": services.ORPHANED,
        "duration_ms": turn.duration_ms,
    }


@pytest.mark.usefixtures("transactional_db")
def test_the_reaper_ends_a_turn_even_when_its_page_cannot_be_told(conversation, settings):
    # Nothing listens on this port: a Redis channel layer that is down.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}"]},
        }
    }
    channel_layers.backends.clear()
    turn = services.turn_create(conversation=conversation, text="one")
    services.turn_start(turn=turn)
    Turn.objects.filter(pk=turn.pk).update(runner=dead_owner())

    try:
        assert services.turns_orphaned_end() == 1
    finally:
        channel_layers.backends.clear()

    turn.refresh_from_db()
    assert turn.status == Turn.Status.INTERRUPTED


def test_a_queued_turn_no_worker_took_is_given_up(conversation):
    turn = services.turn_create(conversation=conversation, text="one")
    Turn.objects.filter(pk=turn.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert services.turns_orphaned_end() == 1
    turn.refresh_from_db()
    assert turn.status == Turn.Status.INTERRUPTED


def test_one_person_has_a_bounded_number_of_turns_running_at_once(conversation, settings):
    settings.TURNBOX_MAX_RUNNING_TURNS_PER_USER = 2
    others = [
        Conversation.objects.create(
            workspace=conversation.workspace, agent=conversation.agent, user=conversation.user
        )
        for _ in range(2)
    ]
    services.turn_create(conversation=others[0], text="one")
    services.turn_create(conversation=others[1], text="two")

    with pytest.raises(services.TurnAlreadyRunning, match="the most at once is 2"):
        services.turn_create(conversation=conversation, text="three")


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repeat", range(4))
def test_turns_started_at_once_stay_within_the_persons_limit(conversation, settings, repeat):
    settings.TURNBOX_MAX_RUNNING_TURNS_PER_USER = 2
    chats = [conversation] + [
        Conversation.objects.create(
            workspace=conversation.workspace, agent=conversation.agent, user=conversation.user
        )
        for _ in range(3)
    ]

    def starting(chat):
        return lambda: services.turn_create(conversation=chat, text="go")

    outcomes = run_at_once(*map(starting, chats), refusals=(services.TurnAlreadyRunning,))

    assert outcomes.count("ok") == 2
    assert Turn.objects.filter(conversation__user=conversation.user).count() == 2


def test_new_conversation_reuses_the_persons_empty_one_with_that_agent(conversation):
    def new():
        return services.conversation_create(
            workspace=conversation.workspace, agent=conversation.agent, user=conversation.user
        )

    empty = new()
    assert new() == empty
    services.turn_create(conversation=empty, text="hello")
    assert new() not in (empty, conversation)


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("  Plot the   sales\nby month ", "Plot the sales by month"),
        ("Run this:\n```python\nimport pandas as pd\nprint(1)\n```\nthanks", "Run this: thanks"),
        ("```python\n\nprint('hi')\n```", "Code: print('hi')"),
        ("word " * 30, ("word " * 15).strip() + "…"),
    ],
)
def test_the_first_message_names_the_conversation_without_its_code(conversation, message, title):
    services.turn_create(conversation=conversation, text=message)
    conversation.refresh_from_db()
    assert conversation.title == title


def test_rename_keeps_a_clean_title_and_refuses_an_empty_one(conversation):
    services.conversation_rename(conversation=conversation, title="  Q3   numbers ")
    assert conversation.title == "Q3 numbers"
    with pytest.raises(ValidationError, match="Type a title"):
        services.conversation_rename(conversation=conversation, title="   ")
    with pytest.raises(ValidationError, match="at most 200"):
        services.conversation_rename(conversation=conversation, title="x" * 201)
    conversation.refresh_from_db()
    assert conversation.title == "Q3 numbers"
