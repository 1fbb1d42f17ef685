"""Plain helpers for the agent management tests (tests/agents/test_*_agents.py)."""

from agents.models import Agent
from agents.services import agents as services
from connections.models import Connection, Kind
from connections.services import connection_create, pixelml_key_issue
from tests.connections.conftest import OPENAI_KEY


def add_pixelml(team) -> Connection:
    """Gives the team's workspace an active PixelML connection: code execution is paid for."""
    _, key = pixelml_key_issue(name=f"{team.workspace.name} Corp")
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
