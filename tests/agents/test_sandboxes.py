"""A turn's sandbox holder: what its code may do, read as the turn starts."""

from agents.models import Agent, NetworkMode, Turn
from agents.sandboxes import TurnSandbox
from agents.services import turns as services
from sandbox.services import sandbox_network_policy_set


def new_turn(conversation) -> Turn:
    turn = services.turn_create(conversation=conversation, text="go")
    return Turn.objects.select_related(
        "conversation__agent__connection", "conversation__workspace", "conversation__user"
    ).get(pk=turn.pk)


def reloaded(turn: Turn) -> Turn:
    return Turn.objects.select_related("conversation__agent", "conversation__workspace").get(
        pk=turn.pk
    )


def test_the_hints_name_who_turned_the_network_off(conversation):
    turn, agent = new_turn(conversation), conversation.agent
    assert TurnSandbox.for_turn(reloaded(turn)).network_off == "this workspace"

    sandbox_network_policy_set(
        workspace=conversation.workspace, mode="allowlist", domains=["pypi.org"], presets=[]
    )
    assert TurnSandbox.for_turn(reloaded(turn)).network_off == ""

    Agent.objects.filter(pk=agent.pk).update(network_mode=NetworkMode.NONE)
    assert TurnSandbox.for_turn(reloaded(turn)).network_off == "this agent"
