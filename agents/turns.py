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
from django.conf import settings

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
    Usage,
)
from agents.sandboxes import AGENT_OFF, TurnSandbox
from agents.services import turns as services
from agents.tools import registry
from agents.tools.output import OutputLog
from agents.tools.skills import skills_note
from agents.tools.types import ToolCallRequest, ToolRun
from agents.transcript import system_prompt, transcript_for
from agents.turn_stop import stop_reason, watch_stop
from agents.turn_stop import turn_wake as turn_wake  # the runner wakes turns through here
from billing.reports import usage_meter
from connections.crypto import InvalidToken
from connections.services import UNDECRYPTABLE_KEY

log = logging.getLogger(__name__)

SHUTDOWN = "The server shut down during this turn."
ACCESS_LOST = services.ACCESS_LOST


@dataclass
class TurnContext:
    turn: Turn
    publisher: Publisher
    provider: LLMProvider
    sandbox: TurnSandbox
    tool_specs: list
    messages: list[ChatMessage] = field(default_factory=list)
    skills_note: str = ""
    # The (status, message) the watcher ends the turn with when it stops the turn itself
    # rather than on someone's request: too long a run, or its person losing access.
    ending: tuple[str, str] | None = None

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
        await _announce_end(turn, publisher)
        return turn.status
    status, message = await _run(turn, publisher)
    finished = await db(services.turn_finish)(turn=turn, status=status, message=message)
    await _announce_end(finished, publisher)
    return finished.status


async def _announce_end(turn: Turn, publisher: Publisher) -> None:
    """The ending is recorded already (a reload shows it); a publisher that cannot send
    it must not turn a finished turn into a crashed task."""
    try:
        await publisher.send(_finished_event(turn))
    except Exception:
        log.exception("turn %s: its turn_finished event could not be sent", turn.pk)


async def _run(turn: Turn, publisher: Publisher) -> tuple[str, str]:
    """The turn's ending. A turn marked running must get one even when setting it up
    fails, or it would stay running and refuse the conversation's next message."""
    try:
        await publisher.send(_started_event(turn))
    except asyncio.CancelledError:
        return Turn.Status.INTERRUPTED, SHUTDOWN
    except Exception as error:
        # Not the agent's settings: the channel layer (Redis, with workers) is failing.
        log.exception("turn %s: its turn_started event could not be sent", turn.pk)
        return Turn.Status.ERROR, (
            f"The turn could not start: live updates could not be sent "
            f"({type(error).__name__}). Send the message again in a moment; if this "
            "keeps happening, the server's channel layer (Redis) needs attention."
        )
    try:
        ctx = await db(_context)(turn, publisher)
    except asyncio.CancelledError:
        return Turn.Status.INTERRUPTED, SHUTDOWN
    except InvalidToken:
        # The encryption keys changed since the connection was saved.
        connection = turn.conversation.agent.connection
        named = f" “{connection.name}”" if connection else ""
        message = f"The agent's connection{named} cannot be used. {UNDECRYPTABLE_KEY}"
        return Turn.Status.ERROR, message
    except Exception as error:
        log.exception("turn %s could not be set up", turn.pk)
        return Turn.Status.ERROR, (
            f"The turn could not start ({type(error).__name__}): check the agent's "
            "connection and settings, then send the message again."
        )
    return await _run_watched(ctx)


def _started_event(turn: Turn) -> dict:
    return {
        "type": "turn_started",
        "turn": str(turn.pk),
        "index": turn.index,
        "user_message": turn.user_message,
        "agent": turn.conversation.agent.name,
        # The first turn names the conversation: the page shows the title at once.
        "title": str(turn.conversation),
    }


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
    specs = registry.specs_for(agent=agent, code_tools=sandbox.allowed)
    messages = transcript_for(turn)
    return TurnContext(
        turn=turn,
        publisher=publisher,
        provider=provider_for(agent, code_execution=sandbox.allowed, refusal=_why_no_code(sandbox)),
        sandbox=sandbox,
        tool_specs=specs,
        messages=messages,
        skills_note=skills_note(agent=agent),
    )


def _why_no_code(sandbox: TurnSandbox) -> str:
    """What Direct mode says when code cannot run; empty for the agent's own switch,
    which it explains itself along with where to turn it on."""
    return "" if sandbox.refusal == AGENT_OFF else sandbox.refusal


async def _run_watched(ctx: TurnContext) -> tuple[str, str]:
    """Runs the loop as a task that a stop request cancels; closes the sandbox after."""
    work = asyncio.ensure_future(_loop(ctx))
    watcher = asyncio.ensure_future(watch_stop(ctx, work))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():  # this task itself was cancelled: the server is stopping
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
            return Turn.Status.INTERRUPTED, SHUTDOWN
        if ctx.ending:
            return ctx.ending
        return await db(stop_reason)(ctx.turn)
    except ProviderError as error:
        return Turn.Status.ERROR, str(error)
    except Exception as error:
        log.exception("turn %s failed", ctx.turn.pk)
        return Turn.Status.ERROR, f"The turn failed unexpectedly ({type(error).__name__})."
    finally:
        watcher.cancel()
        await ctx.sandbox.close()


async def _loop(ctx: TurnContext) -> tuple[str, str]:
    agent = ctx.turn.conversation.agent
    for _ in range(agent.max_steps):
        reply = await _call_model(ctx)
        if not reply.tool_calls:
            return Turn.Status.ANSWERED, ""
        await _run_tools(ctx, reply.tool_calls)
    if getattr(ctx.provider, "closing_reply_is_free", False):
        # Direct mode's last reply only reports what ran: N blocks take N steps.
        reply = await _call_model(ctx, step=False)
        if not reply.tool_calls:
            return Turn.Status.ANSWERED, ""
        await _skip_calls(ctx, reply.tool_calls, "The turn reached its step limit first.")
    return (
        Turn.Status.STEP_LIMIT,
        f"The agent used all {agent.max_steps} steps it may take in one turn without "
        "finishing. Ask it to continue, or raise its step limit.",
    )


async def _run_tools(ctx: TurnContext, calls: list[ToolCallRequest]) -> None:
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
        await _skip_calls(ctx, extra, why)


async def _skip_calls(ctx: TurnContext, calls: list[ToolCallRequest], why: str) -> None:
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


async def _call_model(ctx: TurnContext, *, step: bool = True) -> CollectedReply:
    reply = CollectedReply()
    system = system_prompt(
        ctx.turn.conversation.agent, code_tools=ctx.sandbox.allowed, skills=ctx.skills_note
    )
    events = ctx.provider.stream(system=system, messages=ctx.messages, tools=ctx.tool_specs)
    try:
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
    except BaseException:
        # Stopped or failed mid-answer: keep the text the browser already showed, so a
        # reload shows it too. Its calls never ran; the turn's ending says why it stopped.
        if reply.text:
            await _record_partial(ctx, reply.text)
        raise
    await _record_reply(ctx, reply, step=step)
    return reply


async def _record_partial(ctx: TurnContext, text: str) -> None:
    try:
        await db(services.message_add)(turn=ctx.turn, role="assistant", content=text)
    except Exception:
        log.exception("turn %s: the interrupted reply could not be saved", ctx.turn.pk)


async def _record_reply(ctx: TurnContext, reply: CollectedReply, *, step: bool) -> None:
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
    await db(services.message_add)(
        turn=ctx.turn, role="assistant", content=reply.text, tool_calls=calls
    )
    ctx.messages.append(
        ChatMessage(role="assistant", content=reply.text, tool_calls=tuple(reply.tool_calls))
    )
    usage = reply.usage
    await db(services.turn_add_usage)(
        turn=ctx.turn,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        steps=1 if step else 0,
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
    await _emit_usage(ctx)


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
