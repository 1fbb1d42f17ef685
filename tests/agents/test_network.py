"""An agent narrows its workspace's network policy; a blocked attempt reaches the
browser and the model in plain words."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent, NetworkMode, Turn
from agents.selectors import agent_network_policy
from agents.services import agents as services
from sandbox.network import Mode
from sandbox.services import sandbox_network_policy_set
from tests.agents.test_turns import py, run_turn
from tests.sandbox.egress_lab import running_lab


def allow(workspace, *domains):
    sandbox_network_policy_set(
        workspace=workspace, mode="allowlist", domains=list(domains), presets=[]
    )


def test_an_agent_follows_the_workspace_policy_by_default(direct_agent):
    allow(direct_agent.workspace, "pypi.org")
    policy = agent_network_policy(agent=direct_agent)
    assert policy.mode == Mode.ALLOWLIST
    assert [str(rule) for rule in policy.rules] == ["pypi.org"]


def test_an_agent_narrows_the_workspace_list(direct_agent):
    allow(direct_agent.workspace, "pypi.org", "*.example.org")
    services.agent_update(
        agent=direct_agent, network_mode=NetworkMode.ALLOWLIST, network_rules=["data.example.org"]
    )
    assert [str(r) for r in agent_network_policy(agent=direct_agent).rules] == ["data.example.org"]


def test_an_agent_cannot_widen_the_workspace_policy(direct_agent):
    allow(direct_agent.workspace, "pypi.org")
    with pytest.raises(ValidationError) as caught:
        services.agent_update(
            agent=direct_agent,
            network_mode=NetworkMode.ALLOWLIST,
            network_rules=["pypi.org", "evil.example.com"],
        )
    message = caught.value.message_dict["network_rules"][0]
    assert "does not allow evil.example.com" in message
    direct_agent.refresh_from_db()
    assert direct_agent.network_mode == NetworkMode.WORKSPACE


def test_an_agent_with_no_network_has_none_whatever_the_workspace_allows(direct_agent):
    allow(direct_agent.workspace, "pypi.org")
    services.agent_update(
        agent=direct_agent, network_mode=NetworkMode.NONE, network_rules=["x.org"]
    )
    direct_agent.refresh_from_db()
    assert direct_agent.network_rules == []
    assert agent_network_policy(agent=direct_agent).mode == Mode.NONE


@pytest.mark.parametrize(
    ("rules", "error"),
    [([], "List at least one domain"), (["not a domain!"], "not a domain!")],
)
def test_a_bad_or_empty_agent_list_is_refused(direct_agent, rules, error):
    allow(direct_agent.workspace, "pypi.org")
    with pytest.raises(ValidationError, match=error):
        services.agent_update(
            agent=direct_agent, network_mode=NetworkMode.ALLOWLIST, network_rules=rules
        )


def test_the_code_execution_tab_saves_the_agents_list(direct_agent, paid_team, client_for):
    allow(direct_agent.workspace, "pypi.org", "files.pythonhosted.org")
    url = f"/w/{paid_team.workspace.slug}/agents/{direct_agent.pk}/edit/code-execution/"
    response = client_for(paid_team.admin).post(
        url,
        {"code_execution": "on", "network_mode": "allowlist", "network_rules": "PyPI.org\n"},
    )
    assert response.status_code == 302
    direct_agent.refresh_from_db()
    assert direct_agent.network_rules == ["pypi.org"]


@pytest.fixture(scope="module")
def lab(docker_engine, sandbox_image, egress_proxy_image):
    """A proxy of the module's own, not the one `make run` keeps (removed after)."""
    with running_lab(sandbox_image) as lab:
        yield lab


@pytest.mark.usefixtures("lab", "transactional_db")
def test_a_blocked_attempt_is_shown_and_told_to_the_model(conversation):
    allow(conversation.workspace, "pypi.org")
    Agent.objects.filter(pk=conversation.agent_id).update(
        network_mode=NetworkMode.ALLOWLIST, network_rules=["pypi.org"]
    )
    code = (
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://blocked.example.com/', timeout=10)\n"
        "except Exception as error:\n"
        "    print('refused:', type(error).__name__)"
    )

    turn, sink = run_turn(conversation, py(code))

    assert turn.status == Turn.Status.ANSWERED
    # Told once, by the execution's status: live with tool_finished, then in the history.
    notices = [e["message"] for e in sink.events if e["type"] == "tool_finished"]
    expected = "Network access to blocked.example.com is blocked by this workspace's policy."
    assert any(expected in text for text in notices), sink.events
    assert not [e for e in sink.events if e["type"] == "notice" and "blocked." in e["text"]]
    call = turn.tool_calls.get()
    assert call.result.count("blocked.example.com") == 1
    assert expected in call.result
    assert any(expected in e.get("text", "") for e in call.output if e["type"] == "notice")
