"""What changes conversations and what happens in them: turns queued, started, ended and
stopped, their messages, tool calls and usage. Raise ValidationError with plain words."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, OuterRef
from django.utils import timezone

from agents import selectors
from agents.events import finished_event, publish_from_sync
from agents.models import Agent, Conversation, Message, ToolCall, Turn
from agents.titles import title_from_message
from agents.turn_states import last_step_status, state_of
from sandbox.models import SandboxSession
from sandbox.owners import owner_alive, owner_id
from workspaces.models import User, Workspace

MAX_MESSAGE_CHARS = 100_000
# A queued turn that no worker picked up in this long is given up (a lost task).
QUEUED_GIVE_UP = timedelta(minutes=30)
ORPHANED = "The process running this turn stopped (a crash or a restart) before it finished."


class TurnAlreadyRunning(ValidationError):
    pass


@transaction.atomic
def conversation_create(*, workspace: Workspace, agent: Agent, user: User) -> Conversation:
    """A new conversation, or the person's empty one with this agent: pressing "New
    conversation" twice leaves no empty conversations behind."""
    if agent.workspace_id != workspace.pk:
        raise ValidationError("That agent is not in this workspace.")
    empty = Conversation.objects.filter(
        workspace=workspace, agent=agent, user=user, turns__isnull=True
    ).first()
    return empty or Conversation.objects.create(workspace=workspace, agent=agent, user=user)


@transaction.atomic
def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    title = " ".join(title.split())
    if not title:
        raise ValidationError("Type a title for the conversation.")
    limit = Conversation._meta.get_field("title").max_length
    if len(title) > limit:
        raise ValidationError(f"A title can have at most {limit} characters.")
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    if conversation.turns.filter(status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING]).exists():
        raise TurnAlreadyRunning("Stop the running turn before deleting the conversation.")
    conversation.delete()


def turn_create(*, conversation: Conversation, text: str) -> Turn:
    text = text.strip()
    if not text:
        raise ValidationError("Type a message first.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValidationError(f"A message can have at most {MAX_MESSAGE_CHARS:,} characters.")
    try:
        return _turn_insert(conversation, text)
    except IntegrityError:
        # The partial unique constraint: another turn of this conversation is open.
        raise TurnAlreadyRunning(
            "A turn is still running in this conversation: wait for it or press Stop."
        ) from None


def _check_running_turns(conversation: Conversation) -> None:
    """Each running turn may hold a sandbox: one person cannot start an unbounded number
    of them from many conversations at once."""
    limit = settings.TURNBOX_MAX_RUNNING_TURNS_PER_USER
    running = Turn.objects.filter(
        conversation__user_id=conversation.user_id,
        status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING],
    ).count()
    if running >= limit:
        raise TurnAlreadyRunning(
            f"You already have {running} turns running in other conversations (the most "
            f"at once is {limit}): wait for one to finish or stop it."
        )


@transaction.atomic
def _turn_insert(conversation: Conversation, text: str) -> Turn:
    # The owner's row lock makes count-then-insert one step across processes: two
    # requests at once cannot both see room for one more running turn.
    User.objects.select_for_update().filter(pk=conversation.user_id).first()
    _check_running_turns(conversation)
    last = conversation.turns.aggregate(last=Max("index"))["last"]
    now = timezone.now()
    turn = Turn.objects.create(conversation=conversation, index=(last or 0) + 1, user_message=text)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    # Read in the database, not from the caller's copy: a websocket holds its copy for
    # the whole conversation.
    Conversation.objects.filter(pk=conversation.pk, title="").update(title=title_from_message(text))
    return turn


# Why a turn ends when the person who started it can no longer chat in its workspace.
ACCESS_LOST = (
    "The person who started this turn no longer has access to this workspace "
    "(deactivated, removed, or given a role without the playground), so it was stopped."
)


@transaction.atomic
def turn_start(*, turn: Turn) -> bool:
    """Marks a queued turn running; False when it was stopped before it could start, or
    ended here because its person lost access while it waited in the queue."""
    now = timezone.now()
    queued = Turn.objects.filter(pk=turn.pk, status=Turn.Status.QUEUED, stop_requested="")
    started = queued.filter(
        selectors.may_chat(
            user=OuterRef("conversation__user"), workspace=OuterRef("conversation__workspace")
        )
    ).update(status=Turn.Status.RUNNING, started_at=now, runner=owner_id())
    if not started:
        queued.update(
            status=Turn.Status.ERROR, state=Turn.State.FAILED, error_message=ACCESS_LOST,
            ended_at=now,
        )  # fmt: skip
        return False
    turn.status, turn.started_at = Turn.Status.RUNNING, now
    return True


@transaction.atomic
def turn_attach_session(*, turn: Turn, session: SandboxSession) -> None:
    Turn.objects.filter(pk=turn.pk).update(sandbox_session=session)
    turn.sandbox_session = session


@transaction.atomic
def turn_add_usage(*, turn: Turn, input_tokens: int, output_tokens: int, steps: int = 1) -> None:
    Turn.objects.filter(pk=turn.pk).update(
        steps=F("steps") + steps,
        input_tokens=F("input_tokens") + input_tokens,
        output_tokens=F("output_tokens") + output_tokens,
    )
    turn.steps += steps
    turn.input_tokens += input_tokens
    turn.output_tokens += output_tokens


@transaction.atomic
def turn_finish(*, turn: Turn, status: str, message: str = "", hint: str = "") -> Turn:
    """Ends a turn once: a turn already finished keeps its first ending. Its state is
    decided here (agents.turn_states); ``hint`` is a state its runner learnt itself."""
    now = timezone.now()
    state = state_of(status=status, last_step=last_step_status(turn), hint=hint)
    ended = Turn.objects.filter(
        pk=turn.pk, status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING]
    ).update(status=status, state=state, error_message=message, ended_at=now)
    if ended:
        # Calls cut off with their process (a crash) must not look like they still run.
        ToolCall.objects.filter(turn=turn, status=ToolCall.Status.RUNNING).update(
            status=ToolCall.Status.CANCELLED, ended_at=now
        )
    Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=now)
    turn.refresh_from_db()
    return turn


@transaction.atomic
def turn_request_stop(*, turn: Turn, why: str = Turn.Status.CANCELLED) -> bool:
    """Asks whoever runs the turn to stop it; a queued turn ends at once."""
    Turn.objects.filter(pk=turn.pk, status=Turn.Status.QUEUED).update(
        status=why, state=state_of(status=why), stop_requested=why, ended_at=timezone.now()
    )
    return bool(
        Turn.objects.filter(pk=turn.pk, status=Turn.Status.RUNNING, stop_requested="").update(
            stop_requested=why
        )
    )


@transaction.atomic
def turns_stop_for_pixelml(*, workspace_ids: list[int], why: str) -> int:
    """Stops the queued and running turns of agents that run code in these workspaces,
    which have just lost their PixelML connection; the process running each turn sees
    the request within a poll (agents.turn_stop) and ends it as an error saying ``why``.
    Returns how many it stopped."""
    turns = Turn.objects.filter(
        conversation__workspace_id__in=workspace_ids,
        conversation__agent__code_execution=True,
        stop_requested="",
    )
    queued = turns.filter(status=Turn.Status.QUEUED).update(
        status=Turn.Status.ERROR, state=Turn.State.FAILED, stop_requested=Turn.Status.ERROR,
        error_message=why, ended_at=timezone.now(),
    )  # fmt: skip
    running = turns.filter(status=Turn.Status.RUNNING).update(
        stop_requested=Turn.Status.ERROR, error_message=why
    )
    return queued + running


@transaction.atomic
def message_add(
    *,
    turn: Turn,
    role: str,
    content: str = "",
    tool_calls: list[dict] | None = None,
    tool_call_id: str = "",
) -> Message:
    seq = (turn.messages.aggregate(last=Max("seq"))["last"] or 0) + 1
    return Message.objects.create(
        turn=turn,
        seq=seq,
        role=role,
        content=content,
        tool_calls=tool_calls or [],
        tool_call_id=tool_call_id,
    )


@transaction.atomic
def tool_call_start(*, turn: Turn, call_id: str, name: str, arguments: dict) -> ToolCall:
    seq = (turn.tool_calls.aggregate(last=Max("seq"))["last"] or 0) + 1
    return ToolCall.objects.create(
        turn=turn, seq=seq, call_id=call_id[:100], name=name[:100], arguments=arguments
    )


@transaction.atomic
def tool_call_finish(
    *,
    call: ToolCall,
    status: str,
    result: str,
    output: list[dict],
    execution_id: int | None = None,
    duration_ms: int | None = None,
) -> ToolCall:
    now = timezone.now()
    if duration_ms is None:
        duration_ms = int((now - call.started_at).total_seconds() * 1000)
    call.status, call.result, call.output = status, result, output
    call.execution_id, call.ended_at, call.duration_ms = execution_id, now, duration_ms
    call.save(update_fields=["status", "result", "output", "execution", "ended_at", "duration_ms"])
    return call


def turns_orphaned_end() -> int:
    """Ends the turns whose process died; their sandboxes are the reaper's. A process
    on another host is only judged by age, like sandboxes are."""
    turns = Turn.objects.filter(status__in=[Turn.Status.QUEUED, Turn.Status.RUNNING])
    return sum(turn_end_if_orphaned(turn=turn) for turn in turns)


def _orphaned(turn: Turn) -> bool:
    now = timezone.now()
    if turn.status == Turn.Status.QUEUED:
        return now - turn.created_at > QUEUED_GIVE_UP
    alive = owner_alive(turn.runner)
    if alive is not None:
        return not alive
    return now - turn.started_at > timedelta(seconds=settings.TURNBOX_SANDBOX_MAX_AGE_SECONDS)


@transaction.atomic
def turn_end_if_orphaned(*, turn: Turn) -> bool:
    """Ends the turn as interrupted when no process runs it any more (also one whose Stop
    was pressed after its process died: nobody else would end it). Its open pages hear
    the ending as they would from the turn loop, once it is committed."""
    if turn.status not in (Turn.Status.QUEUED, Turn.Status.RUNNING) or not _orphaned(turn):
        return False
    ended = turn_finish(turn=turn, status=Turn.Status.INTERRUPTED, message=ORPHANED)
    if (ended.status, ended.error_message) != (Turn.Status.INTERRUPTED, ORPHANED):
        return False  # its process ended it a moment ago and announced it itself
    event = finished_event(ended)
    transaction.on_commit(lambda: publish_from_sync(ended.conversation_id, event))
    return True
