"""The live usage websocket: members only; the figures on connect and after a charge."""

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from billing.models import LedgerEntry
from config.routing import websocket_urlpatterns
from sandbox import services as sandbox_services
from tests.billing.usage_helpers import charged_turn, conversation_of, paid
from tests.conftest import run_in_new_loop, socket_accepts

pytestmark = pytest.mark.usefixtures("transactional_db")


def communicator(user, slug: str = "acme") -> WebsocketCommunicator:
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/w/{slug}/usage/")
    socket.scope["user"] = user
    return socket


def attempt(user, slug: str = "acme") -> tuple[bool, int | None]:
    async def go():
        socket = communicator(user, slug)
        connected, code = await socket.connect(timeout=10)
        await socket.disconnect()
        return connected, code

    return run_in_new_loop(go())


@pytest.mark.parametrize("role", ["admin", "member", "finance"])
def test_every_member_connects_and_gets_the_figures(team, role):
    paid(team, credits="50")

    async def go():
        socket = communicator(team.user(role))
        connected, _ = await socket.connect(timeout=10)
        first = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return connected, first

    connected, first = run_in_new_loop(go())
    assert connected
    assert first["type"] == "usage"
    assert first["today_credits"] == "0"
    assert first["balance"] == "10050"  # the test key's 10000 and these 50


def test_another_workspaces_people_are_refused(team, other_team):
    for role in ("admin", "finance", "member"):
        assert attempt(other_team.user(role)) == (False, 4403)
    assert attempt(team.admin, slug="no-such-workspace") == (False, 4403)


def test_an_anonymous_visitor_and_a_former_member_are_refused(team):
    assert attempt(AnonymousUser()) == (False, 4403)
    team.workspace.memberships.filter(user=team.member).delete()
    assert attempt(team.member) == (False, 4403)


def test_a_deactivated_account_is_refused_even_while_its_session_still_names_it(team):
    # The socket's user was loaded before the deactivation: the account is read again.
    stale = team.finance
    type(stale).objects.filter(pk=stale.pk).update(is_active=False)
    assert stale.is_active
    assert attempt(stale) == (False, 4403)


def test_a_charge_sends_the_new_figures(team, other_team):
    paid(team, credits="50")
    paid(other_team)
    chat, elsewhere = conversation_of(team), conversation_of(other_team)

    async def go():
        socket = communicator(team.finance)
        await socket.connect(timeout=10)
        before = await socket.receive_json_from(timeout=5)
        await database_sync_to_async(charged_turn)(chat, [2500])
        after = await socket.receive_json_from(timeout=5)
        # Another workspace's charge is not this dashboard's business.
        await database_sync_to_async(charged_turn)(elsewhere, [1000])
        quiet = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return before, after, quiet

    before, after, quiet = run_in_new_loop(go())
    assert before["today_credits"] == "0"
    assert after["today_credits"] == "3"
    assert after["burn_per_hour"] == "3"
    assert after["balance"] == "10047"
    assert quiet
    assert LedgerEntry.objects.filter(workspace=team.workspace, kind="usage").count() == 1


def test_the_socket_only_sends(team):
    async def go():
        socket = communicator(team.member)
        await socket.connect(timeout=10)
        await socket.receive_json_from(timeout=5)
        await socket.send_json_to({"type": "send", "text": "hi"})
        reply = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return reply

    assert run_in_new_loop(go()) == {"type": "error", "message": "This socket only sends figures."}


def test_the_full_application_checks_the_session_cookie_and_the_origin(team):
    path = f"/ws/w/{team.workspace.slug}/usage/"
    assert socket_accepts(path, team.finance) is True
    assert socket_accepts(path, team.finance, origin="http://evil.example") is False
    # The same host on another port or scheme is the same site, not the same origin.
    assert socket_accepts(path, team.finance, origin="http://localhost:9999") is False
    assert socket_accepts(path, team.finance, origin="https://localhost") is False
    assert socket_accepts(path, team.finance, cookie=False) is False


def test_an_execution_ending_in_an_open_session_sends_the_running_credits(team):
    paid(team, credits="50")
    session = sandbox_services.sandbox_session_create(
        workspace=team.workspace, started_by=team.member, purpose="turn", runtime="runc",
        image="test", owner="",
    )  # fmt: skip

    def execute(duration_ms: int) -> None:
        execution = sandbox_services.execution_create(session=session, kind="python", source="x")
        sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=duration_ms)

    async def go():
        socket = communicator(team.finance)
        await socket.connect(timeout=10)
        before = await socket.receive_json_from(timeout=5)
        await database_sync_to_async(execute)(1200)
        after_one = await socket.receive_json_from(timeout=5)
        await database_sync_to_async(execute)(300)
        after_two = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return before, after_one, after_two

    before, after_one, after_two = run_in_new_loop(go())
    assert (before["running_credits"], before["running_sessions"]) == ("0", 1)
    assert (after_one["running_credits"], after_one["running_sessions"]) == ("2", 1)
    assert after_two["running_credits"] == "2"  # 1.5 s so far: still two started seconds
    assert after_two["today_credits"] == "0"  # charged when the session ends


@pytest.mark.parametrize("change", ["removed", "deactivated"])
def test_a_socket_that_outlived_its_membership_gets_no_more_figures(team, change):
    paid(team, credits="50")
    chat = conversation_of(team)

    def lose_access() -> None:
        if change == "removed":
            team.workspace.memberships.filter(user=team.finance).delete()
        else:
            type(team.finance).objects.filter(pk=team.finance.pk).update(is_active=False)

    async def go():
        socket = communicator(team.finance)
        await socket.connect(timeout=10)
        await socket.receive_json_from(timeout=5)
        await database_sync_to_async(lose_access)()
        await database_sync_to_async(charged_turn)(chat, [2500])
        closed = await socket.receive_output(timeout=5)
        await socket.disconnect()
        return closed

    assert run_in_new_loop(go()) == {"type": "websocket.close", "code": 4403}
