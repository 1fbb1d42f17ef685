"""What changes agents: created, edited, deleted, their model checked. Raise
ValidationError with plain words, keyed by field where one applies."""

from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents import selectors
from agents.models import Agent, NetworkMode
from agents.providers.conformance import ANTHROPIC_MODE_DETAIL, Row, conformance, listing_rows
from agents.providers.model_names import model_match
from connections import crypto
from connections.models import Connection, Kind
from connections.providers import provider_models
from connections.selectors import connection_secret, workspace_has_active_pixelml
from connections.services import UNDECRYPTABLE_KEY
from sandbox.network import outside_policy, parse_rules
from sandbox.selectors import sandbox_maximums, workspace_network_policy
from workspaces.models import User, Workspace

MIN_TIMEOUT_SECONDS = 1
MIN_MEMORY_MB = 64
MAX_STEPS = 50
DEFAULT_MAX_STEPS = 12
CODE_EXECUTION_NEEDS_PIXELML = (
    "Code execution needs an active PixelML connection: an admin adds one under Connections."
)
DIRECT_MODE_CHECK = "Direct mode: no model to reach"
# How many of the provider's models a "not listed" message names.
_MODELS_NAMED = 8
# A server's error can be long; the agent page shows the start of it.
_DETAIL_CHARS = 500

AGENT_FIELDS = frozenset(
    {
        "name",
        "description",
        "instructions",
        "connection",
        "model",
        "code_execution",
        "timeout_seconds",
        "memory_mb",
        "max_steps",
        "tool_mode",
        "network_mode",
        "network_rules",
    }
)


@transaction.atomic
def agent_create(
    *,
    workspace: Workspace,
    created_by: User | None,
    name: str,
    description: str = "",
    instructions: str = "",
    connection: Connection | None = None,
    model: str = "",
    code_execution: bool = False,
    timeout_seconds: int | None = None,
    memory_mb: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    network_mode: str = NetworkMode.WORKSPACE,
    network_rules: list[str] | None = None,
) -> Agent:
    """No connection means Direct mode. An empty model takes the connection's default.
    Empty limits mean the workspace's maximums. Raises ValidationError keyed by field."""
    values = _normalized(
        {
            "name": name,
            "description": description,
            "instructions": instructions,
            "connection": connection,
            "model": model,
            "code_execution": code_execution,
            "timeout_seconds": timeout_seconds,
            "memory_mb": memory_mb,
            "max_steps": max_steps,
            "network_mode": network_mode,
            "network_rules": network_rules or [],
        }
    )
    errors = _agent_errors(workspace, values, before={}, pk=None)
    now = timezone.now()
    agent = Agent(workspace=workspace, created_by=created_by, created_at=now, updated_at=now)
    for field, value in values.items():
        setattr(agent, field, value)
    _agent_save(agent, errors)
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, **fields) -> Agent:
    """Changes any of AGENT_FIELDS. A limit or a switched-on code execution that is kept
    as it was is not checked again, so an agent whose workspace lowered its maximums or
    lost its PixelML key can still be renamed. Changing the connection or the model
    forgets the last model check. Raises ValidationError keyed by field."""
    if unknown := set(fields) - AGENT_FIELDS:
        raise TypeError(f"agent_update() cannot change {', '.join(sorted(unknown))}.")
    before = {field: getattr(agent, field) for field in AGENT_FIELDS}
    values = _normalized({**before, **fields})
    errors = _agent_errors(agent.workspace, values, before=before, pk=agent.pk)
    if (values["connection"], values["model"]) != (before["connection"], before["model"]):
        agent.model_checked_at, agent.model_check_ok, agent.model_check_message = None, None, ""
        agent.model_check_rows = []
    for field, value in values.items():
        setattr(agent, field, value)
    agent.updated_at = timezone.now()
    try:
        _agent_save(agent, errors)
    except ValidationError:
        agent.refresh_from_db()  # The caller's object must not keep refused values.
        raise
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    agent.delete()


def agent_check_model(*, agent: Agent) -> tuple[bool, str]:
    """Asks the provider for its models and whether the agent's model is among them, and
    records the outcome on the agent with a table of checks: for an OpenAI-compatible
    server that listed its models, manage.py provider_check's (streaming, usage, tool
    calls, null content, the mode); for Anthropic, the listing in the same shape. Like
    connections.services.connection_check, not one transaction: the requests take
    seconds and would hold the write lock."""
    connection = agent.connection
    if connection is None:
        ok, message, rows = True, DIRECT_MODE_CHECK, []
    else:
        ok, message, rows = _check_model(connection, agent.model)
    _record_model_check(agent, ok, message, rows)
    return ok, message


def _check_model(connection: Connection, model: str) -> tuple[bool, str, list[Row]]:
    try:
        secret = connection_secret(connection=connection)
    except crypto.InvalidToken:
        return False, UNDECRYPTABLE_KEY, []
    listed = provider_models(
        kind=connection.kind, secret=secret, base_url=connection.effective_base_url
    )
    if not listed.ok:
        # A server that cannot list its models would fail (or time out) every other check.
        message = f"“{connection.name}” could not list its models. {listed.message}"
        return False, message, [Row("models listed", False, listed.message)]
    ok, message = _listing_outcome(connection, model, listed.models)
    if connection.kind != Kind.OPENAI:
        rows, _ = listing_rows(model, listed.models)
        return ok, message, [*rows, Row("mode", True, ANTHROPIC_MODE_DETAIL)]
    base_url = connection.effective_base_url
    return ok, message, conformance(base_url=base_url, api_key=secret, model=model)


def _listing_outcome(
    connection: Connection, model: str, listed: tuple[str, ...]
) -> tuple[bool, str]:
    found, how = model_match(model, listed)
    if found:
        served = f" ({how})" if how else ""
        return True, f"“{model}” is available through “{connection.name}”{served}."
    named = ", ".join(listed[:_MODELS_NAMED]) or "none"
    more = ", …" if len(listed) > _MODELS_NAMED else ""
    return False, (
        f"“{connection.name}” works, but its provider does not list the model “{model}”. "
        f"It lists: {named}{more}."
    )


@transaction.atomic
def _record_model_check(agent: Agent, ok: bool, message: str, rows: list[Row]) -> None:
    agent.model_checked_at = timezone.now()
    agent.model_check_ok = ok
    agent.model_check_message = message[:500]
    agent.model_check_rows = [asdict(row) | {"detail": row.detail[:_DETAIL_CHARS]} for row in rows]
    Agent.objects.filter(pk=agent.pk).update(
        model_checked_at=agent.model_checked_at,
        model_check_ok=agent.model_check_ok,
        model_check_message=agent.model_check_message,
        model_check_rows=agent.model_check_rows,
    )


def _normalized(values: dict) -> dict:
    values = {**values}
    for field in ("name", "description", "model"):
        values[field] = (values[field] or "").strip()
    values["instructions"] = (values["instructions"] or "").strip()
    values["code_execution"] = bool(values["code_execution"])
    connection = values["connection"]
    if connection is None:
        values["model"] = ""  # Direct mode has no model.
    elif not values["model"]:
        values["model"] = connection.default_model
    return values


def _agent_errors(workspace: Workspace, values: dict, *, before: dict, pk: int | None) -> dict:
    errors = _name_errors(workspace, values["name"], pk)
    errors |= _connection_errors(workspace, values["connection"], values["model"])
    if (
        values["code_execution"]
        and not before.get("code_execution")
        and not workspace_has_active_pixelml(workspace=workspace)
    ):
        errors["code_execution"] = CODE_EXECUTION_NEEDS_PIXELML
    errors |= _limit_errors(workspace, values, before)
    errors |= _network_errors(workspace, values)
    steps = values["max_steps"]
    if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        errors["max_steps"] = f"The step limit must be between 1 and {MAX_STEPS}."
    return errors


def _name_errors(workspace: Workspace, name: str, pk: int | None) -> dict:
    if not name:
        return {"name": "Give the agent a name."}
    others = Agent.objects.filter(workspace=workspace, name__iexact=name).exclude(pk=pk)
    if others.exists():
        return {"name": f"This workspace already has an agent named “{name}”."}
    return {}


def _connection_errors(workspace: Workspace, connection: Connection | None, model: str) -> dict:
    if connection is None:
        return {}
    if connection.workspace_id != workspace.pk:
        return {"connection": "Choose a connection of this workspace."}
    if connection.kind not in selectors.LLM_KINDS:
        return {
            "connection": (
                f"“{connection.name}” pays for code execution and has no language model: "
                "choose an OpenAI or Anthropic connection, or Direct mode."
            )
        }
    if not model:
        return {
            "model": (
                f"Name the model to use: “{connection.name}” has no default model "
                "(e.g. gpt-4o-mini or claude-sonnet-4-5)."
            )
        }
    return {}


def _limit_errors(workspace: Workspace, values: dict, before: dict) -> dict:
    errors = {}
    maximums = sandbox_maximums(workspace=workspace)
    timeout, memory = values["timeout_seconds"], values["memory_mb"]
    if timeout is not None and timeout != before.get("timeout_seconds"):
        if timeout < MIN_TIMEOUT_SECONDS:
            errors["timeout_seconds"] = "The timeout must be at least 1 second."
        elif timeout > maximums.timeout_seconds:
            errors["timeout_seconds"] = (
                f"The timeout can be at most {maximums.timeout_seconds} seconds, "
                "this workspace's maximum."
            )
    if memory is not None and memory != before.get("memory_mb"):
        if memory < MIN_MEMORY_MB:
            errors["memory_mb"] = f"The memory must be at least {MIN_MEMORY_MB} MiB."
        elif memory > maximums.memory_mb:
            errors["memory_mb"] = (
                f"The memory can be at most {maximums.memory_mb} MiB, this workspace's maximum."
            )
    return errors


def _network_errors(workspace: Workspace, values: dict) -> dict:
    """Normalises the agent's allowlist in place; refuses entries the workspace's own
    policy would block anyway, so the agent's page never promises what cannot happen."""
    mode = values["network_mode"]
    if mode not in NetworkMode.values:
        return {"network_mode": "Choose one of the network options."}
    if mode != NetworkMode.ALLOWLIST:
        values["network_rules"] = []
        return {}
    try:
        rules = parse_rules(values["network_rules"] or [])
    except ValidationError as error:
        return {"network_rules": " ".join(error.messages)}
    if not rules:
        return {"network_rules": "List at least one domain, or choose No network."}
    values["network_rules"] = [str(rule) for rule in rules]
    outside = outside_policy(workspace_network_policy(workspace=workspace), rules)
    if outside:
        return {
            "network_rules": (
                f"This workspace's network policy does not allow {', '.join(outside)}: an "
                "agent can only narrow it. An admin widens it in the workspace's Settings."
            )
        }
    return {}


def _agent_save(agent: Agent, errors: dict) -> None:
    try:
        agent.clean_fields(exclude=[*errors, "workspace", "connection", "created_by"])
    except ValidationError as error:
        errors = {**error.message_dict, **errors}
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise ValidationError(
            {"name": f"Another agent named “{agent.name}” was saved at the same time."}
        ) from None
