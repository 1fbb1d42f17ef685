"""What reads agents and their conversations. Each part of the app keeps to its own
section below."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.urls import reverse

from agents.models import Agent, Conversation, NetworkMode, ToolCall, ToolMode, Turn
from agents.providers.conformance import Row, uses_native_tool_calls
from billing.selectors import balance_of_key
from connections.models import Connection, Kind
from connections.selectors import active_pixelml_connection, connections_of_workspace
from sandbox.network import Mode, NetworkPolicy, effective_policy, parse_rules
from sandbox.selectors import Maximums, sandbox_maximums, workspace_network_policy
from workspaces.models import Membership, Role, User, Workspace

# --- Agents ---

# Connections that give an agent its language model (PixelML only pays for code).
LLM_KINDS = (Kind.OPENAI, Kind.ANTHROPIC)


def agents_of_workspace(*, workspace: Workspace) -> QuerySet[Agent]:
    return Agent.objects.filter(workspace=workspace).select_related("connection").order_by("name")


def agent_get(*, workspace: Workspace, pk: int) -> Agent:
    """The agent, only within this workspace: a 404 for any other's."""
    return get_object_or_404(
        Agent.objects.select_related("connection", "workspace"), workspace=workspace, pk=pk
    )


def llm_connections_of_workspace(*, workspace: Workspace) -> QuerySet[Connection]:
    return connections_of_workspace(workspace=workspace).filter(kind__in=LLM_KINDS)


def agent_limits(*, agent: Agent) -> tuple[Maximums, Maximums]:
    """The limits a turn of this agent gets (empty ones are the workspace's maximum), and
    the workspace's maximums."""
    maximums = sandbox_maximums(workspace=agent.workspace)
    effective = Maximums(
        timeout_seconds=agent.timeout_seconds or maximums.timeout_seconds,
        memory_mb=agent.memory_mb or maximums.memory_mb,
    )
    return effective, maximums


def agent_skill_count(*, agent: Agent) -> int:
    """How many skills the agent has; the checklist and the Skills tab follow it."""
    from skills.models import AgentSkill  # the skills app builds on this one

    return AgentSkill.objects.filter(agent=agent).count()


def agent_has_answered_turn(*, agent: Agent) -> bool:
    return Turn.objects.filter(conversation__agent=agent, status=Turn.Status.ANSWERED).exists()


def agent_playground_url(*, agent: Agent) -> str:
    # The playground's URLs belong to another part of the app; this address is its contract.
    return f"/w/{agent.workspace.slug}/playground/?agent={agent.pk}"


def agent_tab_url(*, agent: Agent, tab: str) -> str:
    return reverse(
        "agents:edit_tab", kwargs={"ws": agent.workspace.slug, "pk": agent.pk, "tab": tab}
    )


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    detail: str
    # Where to fix it (or, once done, to review it).
    url: str


def agent_checklist(*, agent: Agent) -> list[ChecklistItem]:
    """What an agent needs before people rely on it, in the order to do it."""
    return [
        _connection_item(agent),
        _model_item(agent),
        _code_execution_item(agent),
        _skills_item(agent),
        _test_conversation_item(agent),
    ]


@dataclass(frozen=True)
class ModelCheck:
    rows: list[Row]
    # "native tool calls" or "code blocks"; empty when the checks did not tell.
    uses: str
    why: str


NATIVE, BLOCKS = "native tool calls", "code blocks"


def agent_model_check(*, agent: Agent) -> ModelCheck | None:
    """The table of the agent's last Check model and the way Turnbox will run code with
    it, following the agent's code mode; None before any check."""
    if agent.connection is None or not agent.model_check_rows:
        return None
    rows = [Row(**row) for row in agent.model_check_rows]
    native = uses_native_tool_calls(rows)
    if agent.connection.kind == Kind.ANTHROPIC:
        because = "Anthropic's API always calls tools natively"
    else:
        because = "the model called the tool in the check"
    uses, why = _way_of_running_code(agent.tool_mode, native, because)
    return ModelCheck(rows, uses, why)


def _way_of_running_code(tool_mode: str, native: bool | None, because: str) -> tuple[str, str]:
    if tool_mode == ToolMode.CODE_BLOCKS:
        return BLOCKS, "This agent is set to code blocks: the code blocks the model writes run."
    if tool_mode == ToolMode.NATIVE:
        if native is False:
            return NATIVE, (
                "This agent is set to native tool calls, but the model made no tool call in "
                "the check, so it may never run code: automatic or code blocks (Model tab) "
                "run the code blocks it writes."
            )
        return NATIVE, "This agent is set to native tool calls."
    if native is None:
        return "", "Automatic: the check did not get far enough to tell which way it goes."
    if native:
        return NATIVE, (
            "This agent's code mode is automatic, and automatic will go with native tool "
            f"calls: {because}."
        )
    return BLOCKS, (
        "This agent's code mode is automatic, and automatic will run the code blocks the "
        "model writes: the model made no tool call in the check."
    )


def _connection_item(agent: Agent) -> ChecklistItem:
    url = agent_tab_url(agent=agent, tab="model")
    if agent.connection is None:
        detail = "Direct mode: no LLM. The agent runs the code blocks of each message as sent."
    else:
        detail = f"“{agent.connection.name}” ({agent.connection.get_kind_display()})."
    return ChecklistItem("connection", "Connection configured", True, detail, url)


def _model_item(agent: Agent) -> ChecklistItem:
    url = agent_tab_url(agent=agent, tab="model")
    if agent.connection is None:
        return ChecklistItem(
            "model", "Model reachable", True, "Direct mode: no model to reach.", url
        )
    if agent.model_check_ok is None:
        detail = f"“{agent.model}” has not been checked yet: use Check model."
    else:
        detail = agent.model_check_message
    return ChecklistItem("model", "Model reachable", bool(agent.model_check_ok), detail, url)


def _code_execution_item(agent: Agent) -> ChecklistItem:
    url = agent_tab_url(agent=agent, tab="code-execution")
    label = "Code execution on and paid for"
    pixelml = active_pixelml_connection(workspace=agent.workspace)
    if agent.code_execution and pixelml is not None:
        account = f"the PixelML account “{pixelml.pixelml_key.name}”"
        balance = balance_of_key(key=pixelml.pixelml_key)
        if balance <= 0:
            detail = (
                f"On, but {account} has no credits ({balance.normalize():f}): code will not "
                "run until some are granted. A workspace admin or the platform operator can "
                "add credits."
            )
            url = reverse("billing:settings", kwargs={"ws": agent.workspace.slug})
            return ChecklistItem("code_execution", label, False, detail, url)
        detail = f"On, paid by {account}: {balance.normalize():f} credits left."
        return ChecklistItem("code_execution", label, True, detail, url)
    if pixelml is None:
        url = reverse("connections:list", kwargs={"ws": agent.workspace.slug})
        state = "On, but not paid for" if agent.code_execution else "Off"
        detail = (
            f"{state}: code execution needs an active PixelML connection, "
            "which an admin adds under Connections."
        )
    else:
        detail = "Off: switch it on in the Code Execution tab."
    return ChecklistItem("code_execution", label, False, detail, url)


def _skills_item(agent: Agent) -> ChecklistItem:
    count = agent_skill_count(agent=agent)
    detail = (
        f"{count} skill{'s' if count != 1 else ''} attached." if count else "No skills attached yet"
    )
    url = agent_tab_url(agent=agent, tab="skills")
    return ChecklistItem("skills", "Skills attached", count > 0, detail, url)


def _test_conversation_item(agent: Agent) -> ChecklistItem:
    url = agent_playground_url(agent=agent)
    if agent_has_answered_turn(agent=agent):
        detail = "The agent has answered in a conversation."
        return ChecklistItem("test_conversation", "Test conversation run", True, detail, url)
    detail = "Open it in the playground and send a message; done once the agent answers."
    return ChecklistItem("test_conversation", "Test conversation run", False, detail, url)


def agent_network_policy(*, agent: Agent) -> NetworkPolicy:
    """What the agent's sandboxes may reach: the workspace's policy, narrowed by the
    agent's own."""
    workspace = workspace_network_policy(workspace=agent.workspace)
    own = None
    if agent.network_mode == NetworkMode.NONE:
        own = NetworkPolicy.none()
    elif agent.network_mode == NetworkMode.ALLOWLIST:
        own = NetworkPolicy(mode=Mode.ALLOWLIST, rules=parse_rules(agent.network_rules))
    return effective_policy(workspace, own)


# --- Conversations and turns ---


def conversations_of_user(
    *, workspace: Workspace, user: User, search: str = "", keep=None
) -> QuerySet[Conversation]:
    """The person's conversations that have a message, newest first; ``search`` finds
    words in their titles and messages; ``keep`` (the open one) is listed even if empty."""
    found = Conversation.objects.filter(workspace=workspace, user=user).filter(
        Q(turns__isnull=False) | Q(pk=getattr(keep, "pk", None))
    )
    if search := search.strip():
        found = found.filter(Q(title__icontains=search) | Q(turns__user_message__icontains=search))
    ids = found.values("pk")
    last = Turn.objects.filter(conversation=OuterRef("pk")).order_by("-index")
    return (
        Conversation.objects.filter(pk__in=ids)
        .select_related("agent")
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_state=Subquery(last.values("state")[:1]),
        )
    )


RUNNING_LABEL = "Running"


def conversation_state_label(conversation: Conversation) -> str:
    """What the list says of a conversation's last turn: its state, or that it runs."""
    status = getattr(conversation, "last_status", None)
    if status in (Turn.Status.QUEUED, Turn.Status.RUNNING):
        return RUNNING_LABEL
    state = getattr(conversation, "last_state", "")
    return Turn.State(state).label if state else ""


def conversation_get(*, workspace: Workspace, user: User, pk) -> Conversation:
    """The user's own conversation in this workspace; 404 for anyone else's."""
    return get_object_or_404(
        Conversation.objects.select_related("agent", "workspace"),
        workspace=workspace,
        user=user,
        pk=pk,
    )


# Who may chat in the playground, over HTTP and the websocket alike.
PLAYGROUND_ROLES = (Role.ADMIN, Role.MEMBER)


def may_chat(*, user, workspace) -> Exists:
    """True while ``user`` may chat in ``workspace`` (active, a member, a playground
    role). Either may be an OuterRef, so a query can carry the check along."""
    return Exists(
        Membership.objects.filter(
            user=user, user__is_active=True, workspace=workspace, role__in=PLAYGROUND_ROLES
        )
    )


def conversation_of_owner(*, workspace: Workspace, user: User, pk) -> Conversation | None:
    """Like conversation_get, for consumers: the user's own conversation in this
    workspace, or None instead of a 404. Who may chat is the consumer's check."""
    return (
        Conversation.objects.select_related("agent", "workspace")
        .filter(workspace=workspace, user=user, pk=pk)
        .first()
    )


def turns_of_conversation(*, conversation: Conversation) -> QuerySet[Turn]:
    """Turns with their tool calls, oldest first: what the page shows again after a reload."""
    calls = Prefetch("tool_calls", queryset=ToolCall.objects.order_by("seq"))
    return (
        Turn.objects.filter(conversation=conversation)
        .prefetch_related(calls, "messages")
        .order_by("index")
    )


def running_turn(*, conversation: Conversation) -> Turn | None:
    return (
        Turn.objects.filter(
            conversation=conversation, status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING]
        )
        .order_by("-index")
        .first()
    )


def agents_for_chat(*, workspace: Workspace) -> QuerySet[Agent]:
    return Agent.objects.filter(workspace=workspace).select_related("connection")
