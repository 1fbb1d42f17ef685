"""Live usage figures: each new ledger entry, once committed, sends the fresh figures
(billing.reports.usage_snapshot) to the dashboards of the workspaces it concerns, over
the channel layer group that billing.consumers.UsageConsumer joins; so does each
execution that ends in an open session (the credits running now)."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connections, transaction

from billing import reports
from billing.models import LedgerEntry
from sandbox.models import Execution, SandboxSession
from workspaces.models import Workspace

log = logging.getLogger(__name__)


def group_name(workspace_id) -> str:
    return f"usage-{workspace_id}"


def entry_saved(sender, instance: LedgerEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    workspace_ids = reports.workspaces_of_entry(entry=instance)

    def publish() -> None:
        usage_publish(workspace_ids=workspace_ids)

    # After the commit only: a rolled-back charge must not be shown, and readers in other
    # processes see the entry by then. Robust: a dashboard never fails a charge.
    transaction.on_commit(publish, robust=True)


# Figures for executions are computed off the sandbox's thread: the code's output must
# not wait for a dashboard.
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-live")


def execution_saved(sender, instance: Execution, created: bool, **kwargs) -> None:
    """An execution that ended in an open session moves the dashboard's running figures
    (the charge at the session's close moves the rest)."""
    if instance.duration_ms is None:
        return
    workspace_id = (
        SandboxSession.objects.filter(
            pk=instance.session_id, status=SandboxSession.Status.OPEN, workspace__isnull=False
        )
        .values_list("workspace_id", flat=True)
        .first()
    )
    if workspace_id is not None:
        transaction.on_commit(
            lambda: _background.submit(_publish_quietly, workspace_id), robust=True
        )


def _publish_quietly(workspace_id) -> None:
    try:
        usage_publish(workspace_ids=[workspace_id])
    except Exception:
        log.exception("Live usage figures were not sent.")
    finally:
        connections.close_all()


_server_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()


def server_loop_remember(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop of this process's websockets (set by the consumer)."""
    global _server_loop
    _server_loop = loop


def usage_publish(*, workspace_ids) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    messages = [
        (group_name(w.pk), {"type": "usage.update", "event": reports.usage_snapshot(workspace=w)})
        for w in Workspace.objects.filter(pk__in=workspace_ids)
    ]
    here, loop = _running_loop(), _server_loop
    if here is not None:
        task = here.create_task(_send(layer, messages))
        _tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(_tasks.discard)
    elif loop is not None and loop.is_running():
        # The in-memory layer's queues belong to the server's loop: sending from another
        # loop (a sandbox thread's) would not wake the sockets waiting on them.
        future = asyncio.run_coroutine_threadsafe(_send(layer, messages), loop)
        future.add_done_callback(_log_failure)
    else:
        async_to_sync(_send)(layer, messages)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _send(layer, messages: list) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("Live usage figures were not sent: %r", future.exception())
