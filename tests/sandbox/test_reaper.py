"""The reaper removes what dead processes left behind, and only that."""

import socket
import subprocess
import sys
import time

import pytest

from sandbox import reaper
from sandbox.containers import (
    CREATED_LABEL,
    LABEL,
    OWNER_LABEL,
    docker_client,
    engine_runtimes,
    owner_id,
    remove_sandbox,
)
from sandbox.image import configured_image
from sandbox.models import SandboxSession
from sandbox.session import open_session
from tests.config.test_settings import ROOT, clean_env
from tests.sandbox.engine import container_exists, owned_by, volume_exists

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]

DEAD_OWNER = f"{socket.gethostname()}/999999999/1"


@pytest.fixture
def leftover(sandbox_image):
    """Makes a container and volume labelled like a sandbox, with the owner given."""
    client = docker_client()
    made = []

    def make(name: str, owner: str, age: float = 0) -> str:
        labels = {LABEL: "1", OWNER_LABEL: owner, CREATED_LABEL: str(int(time.time() - age))}
        client.volumes.create(name=name, labels=labels)
        client.containers.create(sandbox_image, ["sleep", "600"], name=name, labels=labels)
        made.append(name)
        return name

    yield make
    for name in made:
        remove_sandbox(name)


def test_it_removes_a_container_and_volume_whose_process_died(leftover):
    name = leftover("turnbox-sandbox-test-dead-owner", DEAD_OWNER)
    assert name in reaper.reap()
    assert not container_exists(name) and not volume_exists(name)


def test_it_removes_an_orphan_that_docker_paused_without_waiting_for_a_kill_timeout():
    # Started and paused: under gVisor a paused container took 10 s to force-remove.
    name = "turnbox-sandbox-test-paused-orphan"
    labels = {LABEL: "1", OWNER_LABEL: DEAD_OWNER, CREATED_LABEL: str(int(time.time()))}
    client = docker_client()
    image = configured_image()
    runtime = "runsc" if "runsc" in engine_runtimes() else "runc"
    options = dict(name=name, labels=labels, runtime=runtime, network_mode="none")
    container = client.containers.run(image, ["sleep", "600"], detach=True, **options)
    try:
        container.pause()
        started = time.monotonic()
        removed = reaper.reap()
        took = time.monotonic() - started
    finally:
        remove_sandbox(name)
    assert name in removed and not container_exists(name)
    assert took < 5, f"reaping took {took:.1f} s"


def test_it_keeps_the_sandboxes_of_a_live_process(leftover):
    name = leftover("turnbox-sandbox-test-live-owner", owner_id())
    assert name not in reaper.reap()
    assert container_exists(name)


def test_another_hosts_sandbox_goes_only_when_older_than_the_limit(leftover, settings):
    settings.TURNBOX_SANDBOX_MAX_AGE_SECONDS = 3600
    young = leftover("turnbox-sandbox-test-remote-young", "elsewhere/1/1")
    old = leftover("turnbox-sandbox-test-remote-old", "elsewhere/1/1", age=7200)
    removed = reaper.reap()
    assert old in removed and young not in removed


def test_it_closes_the_records_of_sessions_it_reaped(leftover):
    name = leftover("turnbox-sandbox-test-record", DEAD_OWNER)
    record = SandboxSession.objects.create(
        runtime="runc", image="x", container_name=name, owner=DEAD_OWNER
    )
    reaper.reap()
    record.refresh_from_db()
    assert (record.status, record.end_reason) == ("closed", "reaped")
    assert record.closed_at is not None


def test_a_live_session_survives_a_reap():
    with open_session(purpose="test") as session:
        name = session.sandbox.name
        reaper.reap()
        assert container_exists(name)
        assert session.record.status == "open"


def test_a_crashed_process_leaves_nothing_once_the_reaper_ran(tmp_path, sandbox_image):
    env = clean_env(tmp_path, TURNBOX_SANDBOX_IMAGE=sandbox_image)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    code = "print('up', flush=True)\nimport time\ntime.sleep(300)"
    command = ["manage.py", "sandbox_run", "--code", code]
    process = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "up\n"
        (name,) = owned_by(process.pid)
    finally:
        process.kill()  # no clean-up code of its own runs: a crash
        process.wait()
    assert container_exists(name)
    assert name in reaper.reap()
    assert not container_exists(name) and not volume_exists(name)
