"""A turn's sandbox: opened at the first code tool call, closed when the turn ends.

``TurnSandbox`` holds the session for the turn: whether code may run at all, the
limits it runs under, the credit gate before each use and the budget alert after.
The tools that use it (agents/tools/execute.py, agents/tools/files.py) get it through
``TurnSandbox.use``.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async as db

from agents.models import Turn
from agents.selectors import agent_network_policy
from agents.services import turns as services
from agents.tools.types import Emit, ToolOutcome, ToolRun, refused
from billing.metering import Meter, OutOfCredit, budget_alerts, credit_used_up, session_gate
from connections.selectors import workspace_has_active_pixelml
from sandbox.aio import AsyncSession, open_session_async
from sandbox.models import Execution
from sandbox.selectors import sandbox_maximums, workspace_network_policy

Work = Callable[[AsyncSession], Awaitable[ToolOutcome]]
NO_PIXELML = (
    "Code execution is not available: this workspace has no active PixelML connection. "
    "A workspace admin adds one under Connections."
)
AGENT_OFF = "Code execution is switched off for this agent."


class TurnSandbox:
    def __init__(
        self, *, turn: Turn, allowed: bool, refusal: str, limits: dict, network_off: str = ""
    ):
        self.turn = turn
        self.allowed = allowed
        self.refusal = refusal
        self.limits = limits
        # Who turned the network off ("this workspace", "this agent"), or "" when it is on.
        self.network_off = network_off
        self.active_ms = 0
        self.images_saved = 0
        self._session: AsyncSession | None = None
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    def for_turn(cls, turn: Turn) -> "TurnSandbox":
        """Reads the agent's switch and the workspace's PixelML state as the turn starts."""
        agent, workspace = turn.conversation.agent, turn.conversation.workspace
        refusal = ""
        if not agent.code_execution:
            refusal = AGENT_OFF
        elif not workspace_has_active_pixelml(workspace=workspace):
            refusal = NO_PIXELML
        maximums = sandbox_maximums(workspace=workspace)
        timeout = min(agent.timeout_seconds or maximums.timeout_seconds, maximums.timeout_seconds)
        memory = min(agent.memory_mb or maximums.memory_mb, maximums.memory_mb)
        limits = {"timeout": timeout, "memory_mb": memory}
        network = agent_network_policy(agent=agent)
        if network.enabled:
            # Runs under TURNBOX_SANDBOX_NETWORK_RUNTIME; refused in plain words where that
            # is gVisor, which has no network (docs/sandbox.md).
            limits["network"] = network
        return cls(
            turn=turn,
            allowed=not refusal,
            refusal=refusal,
            limits=limits,
            network_off=_network_off(network, workspace),
        )

    async def session(self) -> AsyncSession:
        if self._session is None:
            conversation = self.turn.conversation
            opening = open_session_async(
                workspace=conversation.workspace,
                started_by=conversation.user,
                purpose="turn",
                meter=Meter(workspace=conversation.workspace, agent_id=conversation.agent_id),
                **self.limits,
            )
            self._session = await self._stack.enter_async_context(opening)
            await db(services.turn_attach_session)(turn=self.turn, session=self._session.record)
        return self._session

    async def close(self) -> None:
        await asyncio.shield(self._stack.aclose())

    # -- use by the tools -----------------------------------------------------------------
    async def use(self, run: ToolRun, work: Work) -> ToolOutcome:
        """Runs ``work`` with the turn's session, opened on first use: refused when code
        may not run here or the credit is out; the budget alert is checked after."""
        emit, log = run.emit, run.log
        if not self.allowed:
            log.notice(self.refusal)
            await emit("notice", text=self.refusal)
            return refused(self.refusal)
        try:
            await db(self._credit_gate)()
            session = await self.session()
        except OutOfCredit as error:
            self._credit_ran_out(str(error))
            # Said as it is: the model passes it on to the person.
            return await _notice_refusal(str(error), emit, log)
        except Exception as error:
            return await _notice_refusal(f"The sandbox could not start: {error}", emit, log)
        outcome = await work(session)
        if why := session.session.out_of_credit:
            self._credit_ran_out(why)
        await self._budget_alerts(emit, log)
        return outcome

    def _credit_ran_out(self, why: str) -> None:
        # The hint the turn's ending is recorded with (agents.turn_states): whatever
        # the model says next, the turn is out of credits.
        if credit_used_up(why):
            self.turn.state = Turn.State.OUT_OF_CREDITS

    async def last_execution_id(self) -> int | None:
        """The session's latest execution: the one the call just ran."""
        return await db(_last_execution)(self._session.record.pk)

    def _credit_gate(self) -> None:
        conversation = self.turn.conversation
        session_gate(workspace=conversation.workspace, agent_id=conversation.agent_id)
        if self._session is not None and (why := self._session.session.out_of_credit):
            raise OutOfCredit(why[:1].upper() + why[1:])

    async def _budget_alerts(self, emit: Emit, log) -> None:
        """The 80 % alert of a monthly budget, once a month, where it happened."""
        conversation = self.turn.conversation
        session_id = self._session.record.pk if self._session is not None else None
        alerts = await db(budget_alerts)(
            workspace=conversation.workspace, agent_id=conversation.agent_id, session_id=session_id
        )
        for alert in alerts:
            log.notice(alert)
            await emit("notice", text=alert)


async def _notice_refusal(message: str, emit: Emit, log) -> ToolOutcome:
    log.notice(message)
    await emit("notice", text=message)
    return refused(message)


def _network_off(network, workspace) -> str:
    """Who took the session's network away, for the hints; "" when it has one."""
    if network.enabled:
        return ""
    if workspace_network_policy(workspace=workspace).enabled:
        return "this agent"
    return "this workspace"


def _last_execution(session_id) -> int | None:
    return (
        Execution.objects.filter(session_id=session_id)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
