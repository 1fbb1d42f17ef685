"""Running the tool calls of one model reply inside a turn: each call's cell events, its
result in the transcript, and an answer for every call, even those that do not run
(providers refuse a tool call without a result)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async as db
from django.conf import settings

from agents.providers.base import ChatMessage
from agents.services import turns as services
from agents.tools import registry
from agents.tools.output import OutputLog
from agents.tools.types import ToolCallRequest, ToolRun
from billing.reports import usage_meter

if TYPE_CHECKING:  # the turn loop imports this module
    from agents.turns import TurnContext

# How much of a repaired arguments text the call's cell shows.
_REPAIRED_SHOWN = 2000


async def run_tools(ctx: TurnContext, calls: list[ToolCallRequest]) -> None:
    """Runs a reply's calls in order, up to the per-reply cap: one reply must not keep
    a sandbox busy with an unbounded list of calls."""
    cap = settings.TURNBOX_TURN_MAX_TOOL_CALLS
    for call in calls[:cap]:
        await _run_tool(ctx, call)
    if extra := calls[cap:]:
        why = (
            f"One reply may ask for at most {cap} tool calls and this one asked for "
            f"{len(calls)}: the first {cap} ran. Ask for the rest in your next reply."
        )
        await skip_calls(ctx, extra, why)


async def skip_calls(ctx: TurnContext, calls: list[ToolCallRequest], why: str) -> None:
    """Answers calls that will not run, so the transcript stays whole (providers refuse
    a tool call without a result) and the model learns why."""
    result = f"status: not run\n{why}"
    for call in calls:
        await db(services.message_add)(
            turn=ctx.turn, role="tool", content=result, tool_call_id=call.id
        )
        ctx.messages.append(
            ChatMessage(role="tool", content=result, tool_call_id=call.id, name=call.name)
        )


async def emit_usage(ctx: TurnContext) -> None:
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
    language, code = registry.code_of(call.name, call.arguments)
    await ctx.emit(
        "tool_started",
        call=record.seq,
        name=call.name,
        title=registry.title_of(call.name, call.arguments),
        language=language,
        code=code,
        arguments=call.arguments,
    )
    log = OutputLog()
    run = ToolRun(turn=ctx.turn, sandbox=ctx.sandbox, emit=_call_emitter(ctx, record.seq), log=log)
    if call.arguments_repaired:
        await run.notice(
            "The model's arguments were not valid JSON; they were repaired and read as: "
            + call.arguments_repaired[:_REPAIRED_SHOWN]
        )
    try:
        outcome = await registry.dispatch(call, run)
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
    await emit_usage(ctx)


def _call_emitter(ctx: TurnContext, seq: int):
    async def emit(event_type: str, **fields) -> None:
        await ctx.emit(event_type, call=seq, **fields)

    return emit


async def _record_stopped_call(
    ctx: TurnContext, record, call: ToolCallRequest, log: OutputLog
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
