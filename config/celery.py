"""The Celery app of the workers that run turns, and what their processes do as they
start and stop (the warm sandbox pool: filled in each child, drained or reaped at exit)."""

import logging
import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

app = Celery("turnbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# For deployments that run `celery -A config beat`; without a beat, every process with a
# warm pool reconciles after each reap (docs/billing.md).
app.conf.beat_schedule = {
    "billing-reconcile": {"task": "billing.tasks.billing_reconcile", "schedule": 600.0},
}


@worker_process_init.connect
def start_sandbox_pool(**_) -> None:
    # After the fork: a pool's thread and Docker connections must belong to the child.
    from sandbox import pool  # Django is set up only once the worker runs

    pool.start()


@worker_process_shutdown.connect
def drain_sandbox_pool(**_) -> None:
    # A pool child leaves through os._exit, which skips the pool's atexit hook: without
    # this, every worker stop or restart left its warm sandboxes to the reaper.
    from sandbox import pool

    pool.shutdown()


@worker_shutdown.connect
def reap_after_pool_processes(**_) -> None:
    # Runs in the main process once every pool child has exited. A child killed rather
    # than stopped (the parent kills one slow to report ready, the kernel one out of
    # memory) never drained its pool; its owner is now certainly dead on this host, so
    # the reaper removes those sandboxes now instead of leaving them to a later worker.
    from sandbox import reaper

    try:
        reaper.reap()
    except Exception:
        logger.exception("Reaping after the worker's processes failed.")
