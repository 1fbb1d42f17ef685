"""Agents under test: a workspace that may run code (an active PixelML connection), a
Direct-mode agent in it, and real Docker for the turns that run code."""

from decimal import Decimal

import pytest

from agents.models import Agent, Conversation
from billing.services import credit_grant
from connections.models import Kind
from connections.services import connection_create, pixelml_key_issue
from tests.sandbox.conftest import docker_engine, egress_proxy_image, sandbox_image  # noqa: F401


def give_pixelml(workspace, admin, credits: Decimal = Decimal("10000")) -> None:
    """An active PixelML connection whose account holds ``credits``."""
    _, key = pixelml_key_issue(name=f"{workspace.name} account")
    connection_create(
        workspace=workspace, kind=Kind.PIXELML, name="PixelML", secret=key, created_by=admin
    )
    if credits:
        credit_grant(workspace=workspace, amount=credits, reason="Test credits", granted_by=admin)


@pytest.fixture
def paid_team(team):
    give_pixelml(team.workspace, team.admin)
    return team


@pytest.fixture
def direct_agent(paid_team) -> Agent:
    return Agent.objects.create(
        workspace=paid_team.workspace,
        name="Direct",
        code_execution=True,
        created_by=paid_team.admin,
    )


@pytest.fixture
def conversation(direct_agent, paid_team) -> Conversation:
    return Conversation.objects.create(
        workspace=paid_team.workspace, agent=direct_agent, user=paid_team.member
    )
