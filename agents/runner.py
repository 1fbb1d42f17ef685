"""Where turns run: an asyncio task in this (Daphne) process, or a Celery worker.

``TURNBOX_TURN_RUNNER`` chooses; by default turns go to Celery when a broker is
configured and run in-process otherwise. In-process turns are cancelled cleanly when
Daphne shuts down: each ends as "interrupted" and its sandbox is removed.
"""

import asyncio
import sys

from asgiref.sync import sync_to_async
from django.conf import settings

from agents.events import GroupPublisher
from agents.turns import turn_execute, turn_wake

SHUTDOWN_WAIT_SECONDS = 15
_local: dict = {}
_hooked = False


async def turn_dispatch(*, turn_id, conversation_id) -> None:
    if settings.TURNBOX_TURN_RUNNER == "celery":
        from agents.tasks import turn_run

        await sync_to_async(turn_run.delay)(str(turn_id))
        return
    task = asyncio.get_running_loop().create_task(
        turn_execute(turn_id, publisher=GroupPublisher(conversation_id)),
        name=f"turn-{turn_id}",
    )
    _local[turn_id] = task
    task.add_done_callback(lambda _: _local.pop(turn_id, None))
    _hook_shutdown()


def turn_cancel_local(turn_id) -> None:
    """Makes a turn of this process see its stop request now, not at its next poll."""
    turn_wake(turn_id)


def running_here() -> list[asyncio.Task]:
    return list(_local.values())


async def cancel_all() -> None:
    """Ends every turn of this process as interrupted, sandboxes closed."""
    tasks = running_here()
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_SECONDS)


def _hook_shutdown() -> None:
    """Under Daphne (Twisted), shutting down waits for the running turns to close."""
    global _hooked
    if _hooked or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def before_shutdown():
        return defer.Deferred.fromFuture(asyncio.ensure_future(cancel_all()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
    _hooked = True
