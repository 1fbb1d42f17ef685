"""Stopping a running turn: on request (from this process or another), at the time
limit, or when its person loses access to the workspace. The watcher cancels the
turn's work; the turn loop (agents.turns) gives the turn its ending."""

import asyncio
import contextlib

from channels.db import database_sync_to_async as db
from django.conf import settings
from django.db.models import OuterRef

from agents.models import Turn
from agents.selectors import may_chat
from agents.services import turns as services

STOP_POLL_SECONDS = 0.5
# Ends the turn as an error, like the time limit: nobody asked for this stop.
ACCESS_LOST = services.ACCESS_LOST


def stop_reason(turn: Turn) -> tuple[str, str]:
    """The ending a stop request asked for: its status, and its words when it is an
    error (a PixelML connection withdrawn: agents.receivers)."""
    turn.refresh_from_db(fields=["stop_requested", "error_message"])
    status = turn.stop_requested or Turn.Status.CANCELLED
    return status, turn.error_message if status == Turn.Status.ERROR else ""


_wakeups: dict = {}


def turn_wake(turn_id) -> None:
    if (event := _wakeups.get(turn_id)) is not None:
        event.set()


async def watch_stop(ctx, work: asyncio.Future) -> None:
    """Stop requests can come from another process (a Celery worker runs the turn, the
    browser talks to Daphne): the database carries them. In the same process a wake-up
    makes the check immediate. A turn past its time limit, or whose person may no longer
    chat in the workspace, is stopped here too."""
    turn = ctx.turn
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.TURNBOX_TURN_MAX_SECONDS
    wakeup = _wakeups.setdefault(turn.pk, asyncio.Event())
    try:
        while not work.done():
            wait = max(0.0, min(STOP_POLL_SECONDS, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), wait)
            wakeup.clear()
            if loop.time() >= deadline:
                ctx.ending = Turn.Status.ERROR, _time_limit_message()
                turn.state = Turn.State.TIMED_OUT  # the hint its ending is recorded with
                work.cancel()
                return
            requested, allowed = await db(_stop_check)(turn.pk)
            if not allowed:
                ctx.ending = Turn.Status.ERROR, ACCESS_LOST
                work.cancel()
                return
            if requested:
                work.cancel()
                return
    finally:
        _wakeups.pop(turn.pk, None)


def _time_limit_message() -> str:
    limit = settings.TURNBOX_TURN_MAX_SECONDS
    span = f"{limit // 60} minutes" if limit >= 120 and limit % 60 == 0 else f"{limit} seconds"
    return (
        f"The turn was stopped after {span}, the longest one turn may run. Ask the agent "
        "to continue, or to split the work into smaller steps."
    )


def _stop_check(turn_id) -> tuple[bool, bool]:
    """(stop requested, its person may still chat), in the one query the poll always
    made. Lost access wins over a stop request: a socket closed for it asks to stop too."""
    found = (
        Turn.objects.filter(pk=turn_id)
        .annotate(
            allowed=may_chat(
                user=OuterRef("conversation__user"), workspace=OuterRef("conversation__workspace")
            )
        )
        .values_list("stop_requested", "allowed")
        .first()
    )
    if found is None:  # gone with its conversation: nothing left to stop
        return False, True
    return bool(found[0]), found[1]
