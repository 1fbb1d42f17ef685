"""Plain helpers for the agent management tests (tests/agents/test_*_agents.py)."""

from decimal import Decimal

from agents.models import Agent
from agents.services import agents as services
from billing.services import pixelml_key_issue_funded
from connections.models import Connection, Kind
from connections.services import connection_create
from tests.connections.conftest import OPENAI_KEY


def add_pixelml(team, credits: Decimal = Decimal("100")) -> Connection:
    """Gives the team's workspace an active PixelML connection: code execution is paid for
    (``credits`` on its account)."""
    _, key = pixelml_key_issue_funded(name=f"{team.workspace.name} Corp", credits=credits)
    return connection_create(
        workspace=team.workspace, kind=Kind.PIXELML, name="PixelML", secret=key
    )


def add_openai(team, *, name: str = "OpenAI", default_model: str = "", **options) -> Connection:
    return connection_create(
        workspace=team.workspace,
        kind=Kind.OPENAI,
        name=name,
        secret=options.pop("secret", OPENAI_KEY),
        default_model=default_model,
        **options,
    )


def make_agent(team, name: str = "Analyst", **fields) -> Agent:
    return services.agent_create(
        workspace=team.workspace, created_by=team.admin, name=name, **fields
    )
