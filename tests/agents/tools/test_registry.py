"""The registry: every tool by name, one way to run a call, and a clear answer to the
calls a model gets wrong."""

import pytest

from agents.models import Turn
from agents.sandboxes import AGENT_OFF, TurnSandbox
from agents.services import turns as services
from agents.tools import code, registry, skills
from agents.tools.output import OutputLog
from agents.tools.types import ToolCallRequest, ToolRun
from skills import services as skill_services
from tests.conftest import run_in_new_loop
from tests.skills.helpers import skill_files


class Sink:
    def __init__(self):
        self.events: list[dict] = []

    async def emit(self, event_type: str, **fields) -> None:
        self.events.append({"type": event_type, **fields})


class NoSandbox:
    """A sandbox holder that must not be touched."""

    def __getattr__(self, name):
        raise AssertionError(f"the sandbox was used ({name})")


def dispatch(turn, call: ToolCallRequest):
    sink = Sink()
    run = ToolRun(turn=turn, sandbox=NoSandbox(), emit=sink.emit, log=OutputLog())
    return run_in_new_loop(registry.dispatch(call, run)), sink


@pytest.fixture
def turn(conversation) -> Turn:
    turn = services.turn_create(conversation=conversation, text="go")
    return Turn.objects.select_related(
        "conversation__agent__connection", "conversation__workspace", "conversation__user"
    ).get(pk=turn.pk)


def test_every_tool_is_registered_once_under_its_name():
    names = [*code.CODE_TOOLS, *skills.SKILL_TOOLS]
    assert sorted(registry.TOOLS) == sorted(names)
    assert all(tool.name == name for name, tool in registry.TOOLS.items())


@pytest.mark.django_db(transaction=True)  # read in a worker thread, as in a turn
def test_a_skill_tool_runs_through_the_registry_without_a_sandbox(turn):
    workspace = turn.conversation.workspace
    skill = skill_services.skill_import(workspace=workspace, files=skill_files(), created_by=None)
    skill_services.agent_skills_set(agent=turn.conversation.agent, choices={skill.pk: None})
    call = ToolCallRequest(
        id="c1", name=skills.READ, arguments={"skill": "sales-helper", "path": "SKILL.md"}
    )

    outcome, sink = dispatch(turn, call)

    assert outcome.status == "ok"
    assert outcome.result.startswith("status: ok\nsales-helper/SKILL.md:\n")
    assert [e["type"] for e in sink.events] == ["stdout"]
    assert sink.events[0]["text"].startswith("sales-helper/SKILL.md:\n")
    assert outcome.log.entries == [{"type": "stdout", "text": sink.events[0]["text"]}]


def test_an_unknown_tool_is_answered_with_a_clear_error_and_nothing_runs(turn):
    call = ToolCallRequest(id="c1", name="rm_rf_everything", arguments={})

    outcome, sink = dispatch(turn, call)

    assert outcome.status == "error"
    assert outcome.result == (
        "status: error\nThere is no tool named 'rm_rf_everything'. "
        "Call only the tools you were given."
    )
    assert sink.events == [] and outcome.log.entries == []


@pytest.mark.parametrize("name", [code.PYTHON, skills.LIST])
def test_arguments_that_are_not_an_object_are_refused_for_every_tool(turn, name):
    call = ToolCallRequest(id="c1", name=name, arguments={}, arguments_error="not JSON")

    outcome, _ = dispatch(turn, call)

    assert outcome.status == "error"
    assert outcome.result == "status: error\nThe arguments were not valid: not JSON"


def test_code_tools_are_offered_only_where_code_may_run(turn):
    agent = turn.conversation.agent
    offered = [spec.name for spec in registry.specs_for(agent=agent, code_tools=True)]
    assert offered == list(code.CODE_TOOLS)
    assert registry.specs_for(agent=agent, code_tools=False) == []


def test_a_turn_without_code_refuses_a_code_call_in_plain_words(turn):
    turn.conversation.agent.code_execution = False
    sandbox, sink = TurnSandbox.for_turn(turn), Sink()
    call = ToolCallRequest(id="c1", name=code.SHELL, arguments={"command": "ls"})
    run = ToolRun(turn=turn, sandbox=sandbox, emit=sink.emit, log=OutputLog())

    outcome = run_in_new_loop(registry.dispatch(call, run))

    assert sandbox.refusal == AGENT_OFF
    assert outcome.status == "error" and AGENT_OFF in outcome.result
    assert sink.events == [{"type": "notice", "text": sandbox.refusal}]


def test_a_call_is_headed_by_its_tool():
    assert registry.title_of(code.PYTHON, {"code": "1"}) == "Python"
    assert registry.code_of(code.SHELL, {"command": "ls"}) == ("bash", "ls")
    assert registry.title_of(skills.READ, {"skill": "s", "path": "p"}) == "Read s/p"
    assert registry.title_of("unknown", {}) == "unknown"
    assert registry.code_of("unknown", {}) == ("", "")
