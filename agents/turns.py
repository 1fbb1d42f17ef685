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

from agents.context_fit import CUT_BY_LENGTH, Fit, drop_oldest
from agents.events import LAYER_ERRORS, Publisher, finished_event
from agents.models import Turn
from agents.providers import provider_for
from agents.providers.base import (
    ChatMessage,
    CollectedReply,
    ContextTooLong,
    EmptyReply,
    Finish,
    LLMProvider,
    ProviderError,
    TextDelta,
    Usage,
)
from agents.sandboxes import AGENT_OFF, TurnSandbox
from agents.services import turns as services
from agents.tools import registry
from agents.tools.skills import skills_note
from agents.tools.types import ToolCallRequest
from agents.transcript import system_prompt, transcript_for
from agents.turn_stop import stop_reason, watch_stop
from agents.turn_stop import turn_wake as turn_wake  # the runner wakes turns through here
from agents.turn_tools import emit_usage, run_tools, skip_calls
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
    # Where this turn's own messages start in ``messages`` (earlier turns come first).
    current: int = 0
    fit: Fit = field(default_factory=Fit)
    # Plain-words notes for the turn's ending: a reply cut short, turns dropped.
    notes: list[str] = field(default_factory=list)

    def note(self) -> str:
        chosen = getattr(self.provider, "note", "")  # which way automatic mode went
        return " ".join([*self.notes, self.fit.note(), chosen]).strip()

    async def emit(self, event_type: str, **fields) -> None:
        """A channel layer still down after the publisher's retries costs the browser this
        event, not the turn its work: the database has it (a reload shows it)."""
        try:
            await self.publisher.send({"type": event_type, "turn": str(self.turn.pk), **fields})
        except LAYER_ERRORS:
            log.debug("turn %s: its %s event was not sent", self.turn.pk, event_type)


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
    status, message = await db(_withdrawn_ending)(turn, status, message)
    # What the run learnt of its state (the credit ran out, the time limit) was noted
    # on this object by the sandbox holder and the stop watcher.
    finished = await db(services.turn_finish)(
        turn=turn, status=status, message=message, hint=turn.state
    )
    await _announce_end(finished, publisher)
    return finished.status


def _withdrawn_ending(turn: Turn, status: str, message: str) -> tuple[str, str]:
    """A turn whose workspace lost its PixelML connection while it ran ends as that error
    (agents.receivers), even when its model answered before the stop was seen: code that
    was stopped for it must not read as answered."""
    if status != Turn.Status.ANSWERED:
        return status, message
    turn.refresh_from_db(fields=["stop_requested", "error_message"])
    if turn.stop_requested == Turn.Status.ERROR and turn.error_message:
        return Turn.Status.ERROR, turn.error_message
    return status, message


async def _announce_end(turn: Turn, publisher: Publisher) -> None:
    """The ending is recorded already (a reload shows it); a publisher that cannot send
    it must not turn a finished turn into a crashed task."""
    try:
        await publisher.send(finished_event(turn))
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
        current=len(messages) - 1,
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
        reply = await _call_fitting(ctx)
        if not reply.tool_calls:
            return Turn.Status.ANSWERED, ctx.note()
        await run_tools(ctx, reply.tool_calls)
    if getattr(ctx.provider, "closing_reply_is_free", False):
        # Direct mode's last reply only reports what ran: N blocks take N steps.
        reply = await _call_fitting(ctx, step=False)
        if not reply.tool_calls:
            return Turn.Status.ANSWERED, ctx.note()
        await skip_calls(ctx, reply.tool_calls, "The turn reached its step limit first.")
    limit = (
        f"The agent used all {agent.max_steps} steps it may take in one turn without "
        "finishing. Ask it to continue, or raise its step limit."
    )
    return Turn.Status.STEP_LIMIT, f"{limit} {ctx.note()}".strip()


async def _call_fitting(ctx: TurnContext, *, step: bool = True) -> CollectedReply:
    """One model call; when the conversation no longer fits the model's context, the
    oldest earlier turns are dropped and the call made again (agents.context_fit)."""
    while True:
        try:
            return await _call_model(ctx, step=step)
        except (ContextTooLong, EmptyReply) as error:
            dropped = drop_oldest(ctx.messages, ctx.current, ctx.fit)
            if not dropped:
                raise _too_long(error) from None
            ctx.current -= dropped


def _too_long(error: ProviderError) -> ProviderError:
    if isinstance(error, EmptyReply):
        return error
    return ProviderError(
        f"{error} Even without the earlier turns of this conversation it does not fit the "
        "model's context window: start a new conversation, or ask for less at once."
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
    if reply.finish == "length" and CUT_BY_LENGTH not in ctx.notes:
        ctx.notes.append(CUT_BY_LENGTH)
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
    await emit_usage(ctx)
