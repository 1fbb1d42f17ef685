"""The turn loop: one user message, model calls and tool calls until an answer.

``turn_execute`` runs a whole turn and publishes its events (docs/agents.md). It is
the same coroutine in the Daphne process and in a Celery worker; only the publisher
differs. However the turn ends, its sandbox is closed and it gets one ending.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from channels.db import database_sync_to_async as db

from agents import services, tools
from agents.events import Publisher
from agents.models import Turn
from agents.providers import provider_for
from agents.providers.base import (
    ChatMessage,
    CollectedReply,
    Finish,
    LLMProvider,
    ProviderError,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from agents.sandboxes import TurnSandbox
from agents.transcript import system_prompt, transcript_for
from billing.reports import usage_meter
from skills import tools as skill_tools

log = logging.getLogger(__name__)

STOP_POLL_SECONDS = 0.5


@dataclass
class TurnContext:
    turn: Turn
    publisher: Publisher
    provider: LLMProvider
    sandbox: TurnSandbox
    tool_specs: list
    messages: list[ChatMessage] = field(default_factory=list)
    skills_note: str = ""

    async def emit(self, event_type: str, **fields) -> None:
        await self.publisher.send({"type": event_type, "turn": str(self.turn.pk), **fields})


async def turn_execute(turn_id, *, publisher: Publisher) -> str:
    """Runs the turn to its end; returns its final status."""
    turn = await db(_load_turn)(turn_id)
    if turn is None:
        return ""
    if not await db(services.turn_start)(turn=turn):
        # Stopped while queued: it has its ending already; the browser still hears it.
        await db(turn.refresh_from_db)()
        await publisher.send(_finished_event(turn))
        return turn.status
    ctx = await db(_context)(turn, publisher)
    await ctx.emit(
        "turn_started",
        index=turn.index,
        user_message=turn.user_message,
        agent=turn.conversation.agent.name,
    )
    status, message = await _run_watched(ctx)
    finished = await db(services.turn_finish)(turn=turn, status=status, message=message)
    await publisher.send(_finished_event(finished))
    return finished.status


def _finished_event(turn: Turn) -> dict:
    return {
        "type": "turn_finished",
        "turn": str(turn.pk),
        "status": turn.status,
        "message": turn.error_message,
        "duration_ms": turn.duration_ms or 0,
    }


def _load_turn(turn_id) -> Turn | None:
    return (
        Turn.objects.select_related(
            "conversation__agent__connection", "conversation__workspace", "conversation__user"
        )
        .filter(pk=turn_id)
        .first()
    )


def _context(turn: Turn, publisher: Publisher) -> TurnContext:
    agent = turn.conversation.agent
    sandbox = TurnSandbox.for_turn(turn)
    specs = tools.CODE_TOOL_SPECS if sandbox.allowed else []
    specs = [*specs, *skill_tools.specs_for(agent=agent)]
    messages = transcript_for(turn)
    return TurnContext(
        turn=turn,
        publisher=publisher,
        provider=provider_for(agent, code_execution=sandbox.allowed),
        sandbox=sandbox,
        tool_specs=specs,
        messages=messages,
        skills_note=skill_tools.skills_note(agent=agent),
    )


async def _run_watched(ctx: TurnContext) -> tuple[str, str]:
    """Runs the loop as a task that a stop request cancels; closes the sandbox after."""
    work = asyncio.ensure_future(_loop(ctx))
    watcher = asyncio.ensure_future(_watch_stop(ctx.turn, work))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():  # this task itself was cancelled: the server is stopping
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            return Turn.Status.INTERRUPTED, "The server shut down during this turn."
        return await db(_stop_reason)(ctx.turn), ""
    except ProviderError as error:
        return Turn.Status.ERROR, str(error)
    except Exception as error:
        log.exception("turn %s failed", ctx.turn.pk)
        return Turn.Status.ERROR, f"The turn failed unexpectedly ({type(error).__name__})."
    finally:
        watcher.cancel()
        await ctx.sandbox.close()


def _stop_reason(turn: Turn) -> str:
    turn.refresh_from_db(fields=["stop_requested"])
    return turn.stop_requested or Turn.Status.CANCELLED


_wakeups: dict = {}


def turn_wake(turn_id) -> None:
    if (event := _wakeups.get(turn_id)) is not None:
        event.set()


async def _watch_stop(turn: Turn, work: asyncio.Future) -> None:
    """Stop requests can come from another process (a Celery worker runs the turn, the
    browser talks to Daphne): the database carries them. In the same process a wake-up
    makes the check immediate."""
    wakeup = _wakeups.setdefault(turn.pk, asyncio.Event())
    try:
        while not work.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), STOP_POLL_SECONDS)
            wakeup.clear()
            if await db(_stop_requested)(turn.pk):
                work.cancel()
                return
    finally:
        _wakeups.pop(turn.pk, None)


def _stop_requested(turn_id) -> bool:
    return Turn.objects.filter(pk=turn_id).exclude(stop_requested="").exists()


async def _loop(ctx: TurnContext) -> tuple[str, str]:
    agent = ctx.turn.conversation.agent
    for _ in range(agent.max_steps):
        reply = await _call_model(ctx)
        if not reply.tool_calls:
            return Turn.Status.ANSWERED, ""
        for call in reply.tool_calls:
            await _run_tool(ctx, call)
    return (
        Turn.Status.STEP_LIMIT,
        f"The agent used all {agent.max_steps} steps it may take in one turn without "
        "finishing. Ask it to continue, or raise its step limit.",
    )


async def _call_model(ctx: TurnContext) -> CollectedReply:
    reply = CollectedReply()
    system = system_prompt(
        ctx.turn.conversation.agent, code_tools=ctx.sandbox.allowed, skills=ctx.skills_note
    )
    events = ctx.provider.stream(system=system, messages=ctx.messages, tools=ctx.tool_specs)
    async for event in events:
        if isinstance(event, TextDelta) and event.text:
            reply.text += event.text
            await ctx.emit("text_delta", text=event.text)
        elif isinstance(event, ToolCallRequest):
            reply.tool_calls.append(event)
        elif isinstance(event, Usage):
            reply.usage = event
        elif isinstance(event, Finish):
            reply.finish = event.reason
    await _record_reply(ctx, reply)
    return reply


async def _record_reply(ctx: TurnContext, reply: CollectedReply) -> None:
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
    await db(services.message_add)(
        turn=ctx.turn, role="assistant", content=reply.text, tool_calls=calls
    )
    ctx.messages.append(
        ChatMessage(role="assistant", content=reply.text, tool_calls=tuple(reply.tool_calls))
    )
    usage = reply.usage
    await db(services.turn_add_usage)(
        turn=ctx.turn, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
    )
    await _emit_usage(ctx)


async def _emit_usage(ctx: TurnContext) -> None:
    active_ms = ctx.sandbox.active_ms
    # Read each time: an admin may change the rate while a turn runs.
    meter = await db(usage_meter)(workspace=ctx.turn.conversation.workspace, active_ms=active_ms)
    await ctx.emit(
        "usage",
        input_tokens=ctx.turn.input_tokens,
        output_tokens=ctx.turn.output_tokens,
        active_ms=active_ms,
        credits=meter["credits"],
        rate=meter["rate"],
    )


async def _run_tool(ctx: TurnContext, call: ToolCallRequest) -> None:
    record = await db(services.tool_call_start)(
        turn=ctx.turn, call_id=call.id, name=call.name, arguments=call.arguments
    )
    language, code = tools.code_of(call.name, call.arguments)
    skill_call = call.name in skill_tools.SKILL_TOOLS
    await ctx.emit(
        "tool_started",
        call=record.seq,
        name=call.name,
        title=tools.title_of(call.name, call.arguments),
        language=language,
        code=code,
        arguments=call.arguments,
    )
    log = tools.OutputLog()
    try:
        if skill_call:  # read from the database: no sandbox is opened for them
            outcome = await _run_skill_tool(ctx, call, record.seq, log)
        else:
            emit = _call_emitter(ctx, record.seq)
            outcome = await ctx.sandbox.run_tool(call, emit=emit, log=log)
    except asyncio.CancelledError:
        await _record_stopped_call(ctx, record, call, log)
        raise
    await db(services.tool_call_finish)(
        call=record,
        status=outcome.status,
        result=outcome.result,
        output=outcome.log.entries,
        execution_id=outcome.execution_id,
        duration_ms=outcome.duration_ms,
    )
    await db(services.message_add)(
        turn=ctx.turn, role="tool", content=outcome.result, tool_call_id=call.id
    )
    ctx.messages.append(
        ChatMessage(role="tool", content=outcome.result, tool_call_id=call.id, name=call.name)
    )
    await ctx.emit(
        "tool_finished",
        call=record.seq,
        status=outcome.status,
        duration_ms=outcome.duration_ms,
        message=outcome.message,
    )
    await _emit_usage(ctx)


async def _run_skill_tool(ctx: TurnContext, call: ToolCallRequest, seq: int, log):
    outcome = await db(skill_tools.run)(agent=ctx.turn.conversation.agent, call=call)
    outcome.log = log
    text = skill_tools.show(outcome, log)
    await ctx.emit("stdout" if outcome.status == "ok" else "stderr", call=seq, text=text)
    return outcome


def _call_emitter(ctx: TurnContext, seq: int):
    async def emit(event_type: str, **fields) -> None:
        await ctx.emit(event_type, call=seq, **fields)

    return emit


async def _record_stopped_call(
    ctx: TurnContext, record, call: ToolCallRequest, log: tools.OutputLog
) -> None:
    """The turn is being stopped mid-call: the call gets an ending and an answer, so the
    history stays whole (providers refuse a tool call without a result)."""
    result = "status: cancelled\nThe turn was stopped while this ran."
    log.notice("Stopped.")
    finished = await db(services.tool_call_finish)(
        call=record, status="cancelled", result=result, output=log.entries
    )
    await db(services.message_add)(turn=ctx.turn, role="tool", content=result, tool_call_id=call.id)
    await ctx.emit(
        "tool_finished",
        call=record.seq,
        status="cancelled",
        duration_ms=finished.duration_ms,
        message="Stopped.",
    )
