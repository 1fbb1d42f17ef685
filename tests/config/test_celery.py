"""A Celery worker that stops leaves none of its warm sandboxes behind: its pool
processes leave through os._exit, which skips atexit, so config/celery.py drains their
pools when they stop. Real worker, real Redis broker, real Docker."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from portal.cluster import Process, sandbox_containers_of
from tests.sandbox.conftest import docker_engine, sandbox_image  # noqa: F401

READY_SECONDS = 60
STOP_SECONDS = 30


def start_worker(tmp_path, image: str) -> Process:
    url = os.environ.get("TURNBOX_TEST_REDIS_URL", "")
    if not url:
        pytest.fail("TURNBOX_TEST_REDIS_URL is not set: run the README's test command.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNBOX_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        TURNBOX_DATA_DIR=str(tmp_path),
        REDIS_URL=url,
        TURNBOX_SANDBOX_IMAGE=image,
        TURNBOX_SANDBOX_POOL_SIZE="1",
        TURNBOX_EGRESS_POOL_SIZE="0",
    )
    queue = f"turnbox-test-{uuid.uuid4().hex[:12]}"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1"]
    command += [f"--queues={queue}", f"--hostname={queue}@%h", "--without-mingle"]
    log = (tmp_path / "worker.log").open("wb")
    popen = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    return Process("worker", popen)


def wait_for_pool(worker: Process) -> set[int]:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        pids = worker.group_pids()
        if sandbox_containers_of(pids):
            return pids
        if worker.popen.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail("The worker's pool process started no warm sandbox.")


def test_a_stopping_worker_removes_its_warm_sandboxes(tmp_path, sandbox_image):  # noqa: F811
    worker = start_worker(tmp_path, sandbox_image)
    try:
        pids = wait_for_pool(worker)
        os.killpg(worker.popen.pid, signal.SIGTERM)
        worker.popen.wait(STOP_SECONDS)
    finally:
        if worker.popen.poll() is None:
            worker.kill()

    assert worker.popen.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]
    assert sandbox_containers_of(pids) == []
