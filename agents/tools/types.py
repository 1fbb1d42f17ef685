"""The types every tool shares: what a model is offered (``ToolSpec``), what it asks
for (``ToolCallRequest``), what a tool needs to run (``ToolRun``) and what comes back
(``ToolOutcome``), and a registry entry (``Tool``).

Providers translate specs and calls to and from their wire formats; nothing here
knows a provider, a sandbox or a skill.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.tools.output import OutputLog

# Sends one browser event of the running call: emit("stdout", text=...).
Emit = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    # JSON Schema of the arguments object.
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: dict[str, Any]
    # Set when the model sent arguments that are not a JSON object; the loop answers
    # the call with this problem instead of running it.
    arguments_error: str = ""
    # The JSON the model's broken arguments were repaired to (shown with the call).
    arguments_repaired: str = ""


@dataclass
class ToolOutcome:
    status: str
    result: str
    message: str = ""
    log: OutputLog = field(default_factory=OutputLog)
    execution_id: int | None = None
    duration_ms: int | None = None


def refused(message: str) -> ToolOutcome:
    """An error the model can act on: the result says why."""
    return ToolOutcome(status="error", result=f"status: error\n{message}", message=message)


@dataclass
class ToolRun:
    """What one call runs with: its turn, the turn's sandbox holder (opened only by the
    tools that need it), where its browser events go, and what the history keeps."""

    turn: Any
    sandbox: Any
    emit: Emit
    log: OutputLog

    async def notice(self, message: str, *, first: bool = False) -> None:
        """A plain-words note in the call's cell; ``first`` puts it above the output
        (what explains the output best is read before it)."""
        self.log.notice(message, first=first)
        await self.emit("notice", text=message, first=first)


@dataclass(frozen=True)
class Tool:
    """One tool as the registry holds it. ``handler`` answers a call whose arguments
    are a JSON object; ``title`` and ``code`` say how the call's cell is headed."""

    spec: ToolSpec
    handler: Callable[[ToolCallRequest, ToolRun], Awaitable[ToolOutcome]]
    title: Callable[[dict], str]
    code: Callable[[dict], tuple[str, str]] = lambda arguments: ("", "")

    @property
    def name(self) -> str:
        return self.spec.name
