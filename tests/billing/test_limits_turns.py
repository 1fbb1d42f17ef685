"""Credit limits as a turn meets them (agents.sandboxes): the tool result says why in
plain words, the model passes it on, and running out mid-turn stops the code."""

import time
from decimal import Decimal

import pytest

from agents.models import Agent, Conversation, ToolCall, Turn
from billing.models import BillingSettings
from billing.selectors import account_of_workspace
from billing.services import credit_grant
from connections import crypto
from connections.models import Connection, Kind
from sandbox.models import SandboxSession
from tests.agents.conftest import give_pixelml
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.test_turns import py, run_turn
from tests.agents.test_turns_llm import _tool_results

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


@pytest.fixture
def broke(team):
    """A conversation with a Direct agent in a workspace whose account holds nothing."""
    give_pixelml(team.workspace, team.admin, credits=Decimal("0"))
    agent = Agent.objects.create(
        workspace=team.workspace, name="Direct", code_execution=True, created_by=team.admin
    )
    return Conversation.objects.create(workspace=team.workspace, agent=agent, user=team.member)


def test_no_credit_opens_no_sandbox_and_the_tool_result_says_why(broke):
    turn, sink = run_turn(broke, py("print(1)"))

    assert turn.sandbox_session_id is None and not SandboxSession.objects.exists()
    notices = [e["text"] for e in sink.events if e["type"] == "notice"]
    assert notices == [
        "This workspace has no credits left. A workspace admin or the platform "
        "operator can add credits."
    ]
    call = ToolCall.objects.get(turn=turn)
    assert call.status == "error" and "no credits left" in call.result
    assert "did not succeed" in sink.text("text_delta")
    # Whatever the model answered, the turn reads as out of credits, live and recorded.
    assert turn.state == Turn.State.OUT_OF_CREDITS
    assert sink.events[-1]["status_text"].startswith("Out of credits: code could not run;")


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings) -> None:
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


def test_the_model_is_told_in_plain_words_and_passes_it_on(broke):
    script = [
        Reply.tool("_code_execute_python", {"code": "print(1)"}),
        Reply.text("Your workspace is out of credits."),
    ]
    with ScriptedLLM(script) as llm:
        connection = Connection.objects.create(
            workspace=broke.workspace,
            kind=Kind.OPENAI,
            name="scripted",
            secret_encrypted=crypto.encrypt("sk-test-key"),
            base_url=llm.openai_url,
        )
        Agent.objects.filter(pk=broke.agent_id).update(connection=connection, model="m")

        turn, sink = run_turn(broke, "Compute something")

    result = _tool_results(llm.requests[1], Kind.OPENAI)[-1]
    assert result.startswith("status: error") and "This workspace has no credits left" in result
    assert turn.status == Turn.Status.ANSWERED
    assert sink.text("text_delta") == "Your workspace is out of credits."


def test_running_out_mid_turn_stops_the_code_and_says_so(broke):
    workspace = broke.workspace
    credit_grant(workspace=workspace, amount=Decimal("2"), reason="Small", granted_by=None)

    began = time.monotonic()
    turn, sink = run_turn(broke, py("import time; time.sleep(10); print('late')") + py("print(2)"))
    took = time.monotonic() - began

    assert took < 8
    call = ToolCall.objects.filter(turn=turn).order_by("seq").first()
    assert call.status == "killed" and "Stopped: the credit ran out." in call.result
    assert "late" not in sink.text()
    assert account_of_workspace(workspace=workspace).balance >= Decimal("-1")
    assert SandboxSession.objects.get(pk=turn.sandbox_session_id).status == "closed"
    assert turn.state == Turn.State.OUT_OF_CREDITS


def test_the_80_percent_alert_shows_in_the_tool_output_once(broke):
    credit_grant(workspace=broke.workspace, amount=Decimal("100"), reason="x", granted_by=None)
    BillingSettings.objects.create(workspace=broke.workspace, monthly_budget=Decimal("2.5"))

    _, sink = run_turn(broke, py("import time; time.sleep(1.7)") + py("print(1)"))
    _, later = run_turn(broke, py("print(2)"))

    notices = [e["text"] for e in sink.events if e["type"] == "notice"]
    assert len(notices) == 1 and notices[0].startswith("The workspace Acme has used 80 %")
    assert not [e for e in later.events if "monthly budget (" in e.get("text", "")]
    settings_row = BillingSettings.objects.get(workspace=broke.workspace)
    assert settings_row.budget_alerted_month is not None
