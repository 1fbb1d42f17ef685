"""Nothing runs between executions: what an execution leaves running (a background shell
loop, a Python thread) makes no progress while the session waits, as the container's
CPU time in its cgroup shows, and goes on in the next execution. Under runc; gVisor
sandboxes are not frozen (docs/sandbox.md)."""

import time

import pytest

from sandbox.containers import docker_client
from sandbox.session import open_session, run_to_end
from tests.sandbox.engine import cpu_usage_usec

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]

SHELL_LOOP = "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &"
PYTHON_THREAD = (
    "import threading\n"
    "spins = [0]\n"
    "def spin():\n"
    "    while True:\n"
    "        spins[0] += 1\n"
    "threading.Thread(target=spin, daemon=True).start()"
)
# CPU time a frozen container may show over the gap: none of its processes runs, only
# the freezer's own bookkeeping may land in its cgroup. A spinning loop uses ~1 s per s.
IDLE_USEC = 20_000
GAP_SECONDS = 1.0


def container_id(session) -> str:
    # Through Docker, not session.sandbox, which would thaw it for use.
    return docker_client().api.inspect_container(session.record.container_name)["Id"]


def used_over(session, seconds: float) -> int:
    """CPU time (µs) the session's container uses while the caller waits ``seconds``."""
    before = cpu_usage_usec(container_id(session))
    time.sleep(seconds)
    return cpu_usage_usec(container_id(session)) - before


def used_by(session, work) -> int:
    """CPU time (µs) the session's container uses while ``work`` runs."""
    before = cpu_usage_usec(container_id(session))
    work()
    return cpu_usage_usec(container_id(session)) - before


@pytest.mark.parametrize(
    ("kind", "start", "wait"),
    [("shell", SHELL_LOOP, "sleep 1"), ("python", PYTHON_THREAD, "import time; time.sleep(1)")],
    ids=["background-shell-loop", "python-thread"],
)
def test_what_an_execution_leaves_running_waits_for_the_next_one(kind, start, wait):
    with open_session(purpose="test", runtime="runc") as session:
        run = session.shell if kind == "shell" else session.python
        assert run_to_end(run(start))["status"] == "ok"

        idle = used_by(session, lambda: time.sleep(GAP_SECONDS))
        # The same loop spins again while the next execution runs: the measure sees it.
        busy = used_by(session, lambda: run_to_end(run(wait)))

    assert idle < IDLE_USEC, f"{idle} µs of CPU used between executions"
    assert busy > 5 * IDLE_USEC, f"only {busy} µs of CPU used while the next execution ran"
