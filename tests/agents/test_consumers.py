"""The conversation websocket: who may connect, what a turn sends, and stopping."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from agents.consumers import RECHECKED_EVENTS
from agents.events import GroupPublisher
from agents.models import Conversation, Turn
from agents.turns import ACCESS_LOST
from config.routing import websocket_urlpatterns
from sandbox.models import SandboxSession
from tests.conftest import run_in_new_loop, socket_accepts
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("transactional_db")


def path_of(conversation: Conversation, slug: str | None = None) -> str:
    return f"/ws/w/{slug or conversation.workspace.slug}/conversations/{conversation.pk}/"


def communicator(conversation, user, slug=None) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path_of(conversation, slug))
    socket.scope["user"] = user
    return socket


async def receive_until(socket, event_type: str, timeout: float = 20) -> list[dict]:
    events = []
    while True:
        event = await socket.receive_json_from(timeout=timeout)
        events.append(event)
        if event["type"] == event_type:
            return events


def refused(conversation, user, slug=None) -> tuple[bool, int | None]:
    async def attempt():
        socket = communicator(conversation, user, slug)
        connected, code = await socket.connect(timeout=10)
        await socket.disconnect()
        return connected, code

    return run_in_new_loop(attempt())


def test_the_owner_connects(conversation):
    assert refused(conversation, conversation.user) == (True, None)


def test_another_workspace_member_is_refused(conversation, other_team):
    assert refused(conversation, other_team.admin) == (False, 4403)
    assert refused(conversation, other_team.admin, slug=other_team.workspace.slug) == (False, 4403)


def test_another_member_of_the_same_workspace_is_refused(conversation, paid_team):
    assert refused(conversation, paid_team.admin) == (False, 4403)


def test_an_anonymous_visitor_is_refused(conversation):
    from django.contrib.auth.models import AnonymousUser

    assert refused(conversation, AnonymousUser()) == (False, 4403)


def test_a_former_member_is_refused(conversation, paid_team):
    paid_team.workspace.memberships.filter(user=conversation.user).delete()
    assert refused(conversation, conversation.user) == (False, 4403)


@pytest.mark.usefixtures("sandbox_image")
def test_a_turn_streams_its_events_in_order(conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        code = "import time\nprint('one', flush=True)\ntime.sleep(0.5)\nprint('two')"
        await socket.send_json_to({"type": "send", "text": f"```python\n{code}\n```"})
        events = await receive_until(socket, "turn_finished")
        await socket.disconnect()
        return events

    events = run_in_new_loop(chat())

    types = [e["type"] for e in events]
    assert types[0] == "turn_started"
    assert types.index("tool_started") < types.index("stdout") < types.index("tool_finished")
    chunks = [e["text"] for e in events if e["type"] == "stdout"]
    assert "".join(chunks) == "one\ntwo\n"
    assert len(chunks) == 2, "each print arrives as it happens"
    assert events[-1]["status"] == "answered"
    assert {e["turn"] for e in events} == {events[0]["turn"]}


def test_a_second_message_while_a_turn_runs_is_refused(conversation):
    Turn.objects.create(conversation=conversation, index=1, user_message="x", status="running")

    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": "another"})
        event = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return event

    event = run_in_new_loop(chat())
    assert event["type"] == "error"
    assert "still running" in event["message"]


def test_an_empty_message_is_refused(conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": "   "})
        event = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return event

    assert run_in_new_loop(chat()) == {"type": "error", "message": "Type a message first."}
    assert not Turn.objects.exists()


LONG_LOOP = (
    "```python\nimport time\nfor i in range(1000):\n    print(i, flush=True)\n"
    "    time.sleep(0.05)\n```"
)


def _turn_session(turn_id) -> SandboxSession:
    return Turn.objects.select_related("sandbox_session").get(pk=turn_id).sandbox_session


def assert_sandbox_closes(turn_id) -> None:
    """The sandbox closes just after the turn's ending is recorded: wait for it."""
    session = _turn_session(turn_id)
    for _ in range(100):
        session.refresh_from_db()
        if session.status == "closed":
            break
        time.sleep(0.05)
    assert session.status == "closed"
    assert not container_exists(session.container_name)


@pytest.mark.usefixtures("sandbox_image")
def test_stop_ends_the_turn_and_removes_its_sandbox(conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": LONG_LOOP})
        await receive_until(socket, "stdout")
        await socket.send_json_to({"type": "stop"})
        events = await receive_until(socket, "turn_finished", timeout=10)
        await socket.disconnect()
        return events

    events = run_in_new_loop(chat())

    assert events[-1]["status"] == "cancelled"
    session = _turn_session(events[-1]["turn"])
    assert session.status == "closed" and not container_exists(session.container_name)


@pytest.mark.usefixtures("sandbox_image")
def test_closing_the_websocket_stops_the_turn_it_started(conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": LONG_LOOP})
        started = await receive_until(socket, "stdout")
        await socket.disconnect()
        turn_id = started[0]["turn"]
        for _ in range(200):
            turn = await database_sync_to_async(Turn.objects.get)(pk=turn_id)
            if turn.is_finished:
                return turn
            await asyncio.sleep(0.05)
        raise AssertionError("the turn did not stop")

    turn = run_in_new_loop(chat())

    assert turn.status == Turn.Status.DISCONNECTED
    assert_sandbox_closes(turn.pk)


def test_stop_ends_at_once_a_turn_whose_process_died(conversation):
    from tests.agents.test_services_turns import dead_owner

    turn = Turn.objects.create(
        conversation=conversation, index=1, user_message="x", status="running",
        started_at=timezone.now(), runner=dead_owner(),
    )  # fmt: skip

    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "stop"})
        event = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return event

    event = run_in_new_loop(chat())

    assert (event["type"], event["turn"]) == ("turn_finished", str(turn.pk))
    assert event["status"] == "interrupted"
    turn.refresh_from_db()
    assert turn.status == Turn.Status.INTERRUPTED


def test_the_full_application_checks_the_session_cookie_and_the_origin(conversation):
    path, user = path_of(conversation), conversation.user
    assert socket_accepts(path, user) is True
    assert socket_accepts(path, user, origin="http://evil.example") is False
    # The same host on another port or scheme is the same site, not the same origin.
    assert socket_accepts(path, user, origin="http://localhost:9999") is False
    assert socket_accepts(path, user, origin="https://localhost") is False
    assert socket_accepts(path, user, cookie=False) is False


def test_a_finance_person_is_refused_even_on_their_own_conversation(conversation, paid_team):
    # Finance people have no playground: a conversation left from an earlier role is closed.
    conversation.user = paid_team.finance
    conversation.save(update_fields=["user"])
    assert refused(conversation, paid_team.finance) == (False, 4403)


def test_a_membership_in_another_workspace_does_not_open_this_ones_conversation(
    conversation, other_team
):
    from workspaces.models import Membership

    owner = conversation.user
    conversation.workspace.memberships.filter(user=owner).update(role="finance")
    Membership.objects.create(user=owner, workspace=other_team.workspace, role="member")
    assert refused(conversation, owner) == (False, 4403)


def lose_access(conversation, change: str) -> None:
    """Takes the playground away from the conversation's owner, as an admin would."""
    user = conversation.user
    memberships = conversation.workspace.memberships.filter(user=user)
    if change == "demoted":
        memberships.update(role="finance")
    elif change == "removed":
        memberships.delete()
    else:
        type(user).objects.filter(pk=user.pk).update(is_active=False)


async def receive_close(socket, timeout: float = 5) -> dict:
    """The socket's close, past the events already sent before it."""
    while True:
        output = await socket.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output


async def turn_ended(turn_id, timeout: float = 10) -> Turn:
    for _ in range(int(timeout / 0.05)):
        turn = await database_sync_to_async(Turn.objects.get)(pk=turn_id)
        if turn.is_finished:
            return turn
        await asyncio.sleep(0.05)
    raise AssertionError("the turn did not end")


CHANGES = ["demoted", "removed", "deactivated"]


@pytest.mark.parametrize("change", CHANGES)
def test_a_socket_that_outlived_its_access_is_closed_and_starts_nothing(conversation, change):
    async def chat():
        socket = communicator(conversation, conversation.user)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await database_sync_to_async(lose_access)(conversation, change)
        await socket.send_json_to({"type": "send", "text": "print(1)"})
        closed = await socket.receive_output(timeout=5)
        await socket.disconnect()
        return closed

    assert run_in_new_loop(chat()) == {"type": "websocket.close", "code": 4403}
    assert not Turn.objects.filter(conversation=conversation).exists()


@pytest.mark.usefixtures("sandbox_image")
@pytest.mark.parametrize("change", CHANGES)
def test_a_stop_from_a_socket_that_outlived_its_access_is_refused_and_the_turn_ends_anyway(
    conversation, change
):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": LONG_LOOP})
        started = await receive_until(socket, "stdout")
        await database_sync_to_async(lose_access)(conversation, change)
        await socket.send_json_to({"type": "stop"})
        closed = await receive_close(socket)
        await socket.disconnect()
        return closed, await turn_ended(started[0]["turn"])

    closed, turn = run_in_new_loop(chat())

    assert closed == {"type": "websocket.close", "code": 4403}
    # The refused stop recorded nothing; the turn ended for the lost access instead.
    assert turn.stop_requested != Turn.Status.CANCELLED
    assert turn.status == Turn.Status.ERROR
    assert turn.error_message == ACCESS_LOST
    assert_sandbox_closes(turn.pk)


@pytest.mark.parametrize("event_type", sorted(RECHECKED_EVENTS))
def test_a_socket_that_outlived_its_access_is_closed_when_a_turn_or_call_starts(
    conversation, event_type
):
    publisher = GroupPublisher(conversation.pk)

    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await publisher.send({"type": event_type, "turn": "t1"})
        seen = await socket.receive_json_from(timeout=5)
        await database_sync_to_async(lose_access)(conversation, "demoted")
        # Both queued before the socket handles the first: the second is already on its
        # way when the check closes the socket, and must be dropped all the same.
        await publisher.send({"type": event_type, "turn": "t1"})
        await publisher.send({"type": "stdout", "turn": "t1", "call": 1, "text": "secret"})
        closed = await socket.receive_output(timeout=5)
        quiet = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return seen, closed, quiet

    seen, closed, quiet = run_in_new_loop(chat())

    assert seen == {"type": event_type, "turn": "t1"}
    assert closed == {"type": "websocket.close", "code": 4403}
    assert quiet, "nothing reaches a socket after it was closed for lost access"
