import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("turnbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def start_sandbox_pool(**_) -> None:
    # After the fork: a pool's thread and Docker connections must belong to the child.
    from sandbox import pool  # Django is set up only once the worker runs

    pool.start()
