"""A turn's state as a person reads it at a glance: answered, failed, timed out,
stopped, out of credits. Decided once, when the turn ends, from how it ended and how
its last sandbox step went: a model that answers after its code timed out did not
answer the question. The transcript, the conversation list and the usage pages all
show it in the same words (``Turn.State`` labels), and every status line starts with
the state's label."""

from agents.models import ToolCall, Turn
from agents.tools.code import CODE_TOOLS

State = Turn.State
Status = Turn.Status

# Endings somebody or something chose: whatever the code did, the turn was stopped.
_STOPPED = (Status.CANCELLED, Status.DISCONNECTED, Status.INTERRUPTED, Status.STEP_LIMIT)
# How the last sandbox step of a turn the model answered colours the turn.
_LAST_STEP = {
    ToolCall.Status.TIMEOUT: State.TIMED_OUT,
    ToolCall.Status.ERROR: State.FAILED,
    ToolCall.Status.KILLED: State.FAILED,
}
# The status line of an answered turn whose last sandbox step did not succeed.
_ANSWERED_AFTER = {
    State.TIMED_OUT: "Timed out: the last code run reached its time limit",
    State.FAILED: "Failed: the last code run did not succeed",
    State.OUT_OF_CREDITS: "Out of credits: code could not run",
}
# How a turn that did not answer is told; the label of its state comes first.
STATUS_TEXT = {
    Status.STEP_LIMIT: "Stopped at the step limit",
    Status.CANCELLED: "Stopped by you",
    Status.DISCONNECTED: "Stopped: the browser went away",
    Status.INTERRUPTED: "Stopped: the server shut down",
}

# Stops whose message, when there is one, says why better than the status does.
_SAID_BY_MESSAGE = (Status.DISCONNECTED, Status.INTERRUPTED)


def state_of(*, status: str, last_step: str = "", hint: str = "") -> str:
    """The state of a turn that ended with ``status``; ``last_step`` is the status of
    its last sandbox call, ``hint`` what the turn's runner learnt itself (the credit
    ran out, the turn's time limit). Empty while the turn is not finished."""
    if status not in Turn.FINISHED:
        return ""
    if status in _STOPPED:
        return State.STOPPED
    if hint:
        return hint
    if status == Status.ERROR:
        return State.FAILED
    return _LAST_STEP.get(last_step, State.ANSWERED)


def last_step_status(turn: Turn) -> str:
    """The status of the turn's last call that used its sandbox, or ""."""
    last = turn.tool_calls.filter(name__in=CODE_TOOLS).order_by("-seq").first()
    return last.status if last else ""


def format_duration(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:.1f} s"


def status_text(turn: Turn) -> str:
    """The turn's status line: its state's label first, then what happened."""
    if not turn.is_finished:
        return ""
    message = turn.error_message
    if turn.status == Status.ANSWERED:
        duration = format_duration(turn.duration_ms)
        answered = f"answered in {duration}" if duration else "answered"
        lead = _ANSWERED_AFTER.get(turn.state)
        text = f"{lead}; the agent {answered}" if lead else answered.capitalize()
        return f"{text}. {message}" if message else text
    if turn.status in _SAID_BY_MESSAGE and message:
        # "Stopped: the server shut down" would say twice what the message says.
        return f"{State.STOPPED.label}: {message}"
    if turn.status in STATUS_TEXT:
        text = STATUS_TEXT[turn.status]
    else:
        text = Turn.State(turn.state).label if turn.state else Status(turn.status).label
    return f"{text}: {message}" if message else text


def is_bad(turn: Turn) -> bool:
    return turn.is_finished and turn.state != State.ANSWERED
