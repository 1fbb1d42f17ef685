"""Billing under test: a workspace with a funded PixelML account, and ended sessions made
from records alone (what the sandbox engine writes), so charges can be checked to the
millisecond without Docker."""

from decimal import Decimal

import pytest

from agents.models import Agent, Conversation, Turn
from billing.metering import gated_meter
from sandbox import services as sandbox_services
from sandbox.models import Execution, SandboxSession
from sandbox.session import open_session
from tests.agents.conftest import give_pixelml
from tests.sandbox.conftest import docker_engine, egress_proxy_image, sandbox_image  # noqa: F401


@pytest.fixture
def funded(team):
    give_pixelml(team.workspace, team.admin, credits=Decimal("100"))
    return team


@pytest.fixture
def agent(funded) -> Agent:
    return Agent.objects.create(
        workspace=funded.workspace, name="Analyst", code_execution=True, created_by=funded.admin
    )


def ended_session(
    workspace, durations: list[int], *, kinds: list[str] | None = None, user=None, turn=None
) -> SandboxSession:
    """A session that ran executions of these durations (ms) and was closed, as a worker
    that died before charging would leave it."""
    session = sandbox_services.sandbox_session_create(
        workspace=workspace, started_by=user, purpose="turn", runtime="runc", image="x", owner=""
    )
    kinds = kinds or [Execution.Kind.PYTHON] * len(durations)
    for kind, duration in zip(kinds, durations, strict=True):
        execution = sandbox_services.execution_create(session=session, kind=kind, source="x")
        sandbox_services.execution_finish(execution=execution, status="ok", duration_ms=duration)
    if turn is not None:
        Turn.objects.filter(pk=turn.pk).update(sandbox_session=session)
    sandbox_services.sandbox_session_end(session=session, reason=SandboxSession.EndReason.CLOSED)
    return session


def make_turn(agent: Agent, user) -> Turn:
    conversation = Conversation.objects.create(workspace=agent.workspace, agent=agent, user=user)
    return Turn.objects.create(conversation=conversation, index=0, user_message="run it")


def metered_session(workspace, *, agent_id=None, **options):
    """A session opened the way a turn opens one: past the credit gate (OutOfCredit here,
    before anything opens), with the meter that stops its code at the boundary."""
    meter = gated_meter(workspace=workspace, agent_id=agent_id)
    return open_session(workspace=workspace, meter=meter, **options)
