import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

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
