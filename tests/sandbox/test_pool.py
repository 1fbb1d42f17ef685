"""The warm pool against a real Docker engine."""

import subprocess
import sys
import time

import pytest

from sandbox import pool
from sandbox.containers import SandboxUnavailable, Spec, start_sandbox
from sandbox.session import open_session, run_to_end
from tests.config.test_asgi import free_port
from tests.config.test_settings import ROOT, clean_env
from tests.sandbox.engine import container_exists, owned_by

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


@pytest.fixture
def warm(settings):
    settings.TURNBOX_SANDBOX_POOL_SIZE = 2
    started = pool.start()
    assert started.wait_full(timeout=60)
    yield started
    pool.shutdown()


def test_a_session_takes_a_ready_sandbox_from_the_pool(warm):
    waiting = set(warm.waiting())
    with open_session(purpose="test") as session:
        assert session.sandbox.name in waiting
        status = run_to_end(session.python("print(1)"))
    assert status["status"] == "ok"


def test_a_pooled_sandbox_has_run_nothing_and_serves_one_session_only(warm):
    with open_session(purpose="test") as first:
        first_name = first.sandbox.name
        run_to_end(first.python("leftover = 1"))
    assert not container_exists(first_name)
    assert warm.wait_full(timeout=60)
    assert first_name not in set(warm.waiting())
    with open_session(purpose="test") as second:
        events = list(second.python("'leftover' in globals(), len(In)"))
    (result,) = [e for e in events if e["type"] == "result"]
    assert result["data"]["text/plain"] == "(False, 2)"  # In[0] is empty, In[1] is this


def test_sessions_with_other_limits_start_cold(warm):
    waiting = set(warm.waiting())
    with open_session(purpose="test", memory_mb=256) as session:
        assert session.sandbox.name not in waiting
    assert warm.ready_count() == 2


def test_the_execution_limits_do_not_keep_a_session_from_the_pool(warm):
    waiting = set(warm.waiting())
    with open_session(purpose="test", timeout=5) as session:
        assert session.sandbox.name in waiting


def test_draining_removes_every_waiting_sandbox(settings):
    settings.TURNBOX_SANDBOX_POOL_SIZE = 2
    drained = pool.WarmPool(Spec.default(), 2)
    drained.start()
    assert drained.wait_full(timeout=60)
    names = drained.waiting()
    drained.drain()
    assert drained.ready_count() == 0
    assert not any(container_exists(name) for name in names)
    assert drained.acquire() is None


def test_no_pool_when_its_size_is_zero(settings):
    settings.TURNBOX_SANDBOX_POOL_SIZE = 0
    assert pool.start() is None
    assert pool.acquire(Spec.default()) is None


def test_the_server_fills_its_pool_at_start_and_drains_it_at_shutdown(tmp_path, sandbox_image):
    env = clean_env(tmp_path, TURNBOX_SANDBOX_POOL_SIZE="1", TURNBOX_SANDBOX_IMAGE=sandbox_image)
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-p", str(free_port()), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        names = wait_for(lambda: owned_by(daphne.pid), seconds=60)
    finally:
        daphne.terminate()
        daphne.wait(timeout=30)
    assert len(names) == 1
    assert not container_exists(names[0])


def wait_for(found, seconds: float):
    deadline = time.monotonic() + seconds
    while not (result := found()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def test_a_sandbox_that_cannot_warm_up_is_not_pooled():
    sandbox = start_sandbox(Spec.default())
    sandbox.channel.close()  # as if the sandbox had died between its start and its warm-up
    with pytest.raises(SandboxUnavailable, match="did not run its warm-up"):
        pool.warm_up(sandbox)
    assert not container_exists(sandbox.name)
