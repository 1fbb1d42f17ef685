"""Nothing runs between executions: what an execution leaves running (a background shell
loop, a Python thread) makes no progress once the sandbox has been idle for a moment, as
the container's CPU time in its cgroup shows, and goes on in the next execution. Under
runc and gVisor (runsc) alike; everything that happens to a sandbox between executions
(file transfers, the end of its session, the reaper's removal) works on a frozen one."""

import time

import pytest

from drive import rules
from sandbox import transfer
from sandbox.containers import GVISOR, docker_client, engine_runtimes, remove_sandbox
from sandbox.freezer import IDLE_SECONDS
from sandbox.session import open_session, run_to_end
from tests.sandbox.engine import container_exists, cpu_usage_usec

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
# the freezer's own bookkeeping (and gVisor's own timers) may land in its cgroup. A
# spinning loop uses ~1 s per s.
IDLE_USEC = 20_000
GAP_SECONDS = 1.0
# gVisor's thaw takes host threads in bursts: a sandbox with this many processes of its
# own ran out of room after a few freezes before the room was measured (containers.py).
SLEEPERS = 16
CYCLES = 15


@pytest.fixture(params=["runc", GVISOR])
def runtime(request) -> str:
    if request.param not in engine_runtimes():
        pytest.skip(f"The Docker engine has no {request.param} runtime registered.")
    return request.param


def container_id(session) -> str:
    # Through Docker: the CPU time is read from the container's cgroup on this host.
    return docker_client().api.inspect_container(session.record.container_name)["Id"]


def used_by(session, work) -> int:
    """CPU time (µs) the session's container uses while ``work`` runs."""
    before = cpu_usage_usec(container_id(session))
    work()
    return cpu_usage_usec(container_id(session)) - before


def frozen(session) -> None:
    """Waits for the freeze that follows an execution after a short idle moment."""
    deadline = time.monotonic() + 20  # a kernel restart after a time limit comes first
    while not session.sandbox.frozen:
        assert time.monotonic() < deadline, "the sandbox was not frozen"
        time.sleep(0.01)


def idle_gap() -> None:
    time.sleep(GAP_SECONDS)


def ok(events) -> dict:
    status = run_to_end(events)
    assert status["status"] == "ok", status
    return status


def printed(events) -> str:
    out = []
    status = run_to_end(events, lambda e: out.append(e["text"]) if e["type"] == "stdout" else 0)
    assert status["status"] == "ok", status
    return "".join(out)


@pytest.mark.parametrize(
    ("kind", "start", "wait"),
    [("shell", SHELL_LOOP, "sleep 1"), ("python", PYTHON_THREAD, "import time; time.sleep(1)")],
    ids=["background-shell-loop", "python-thread"],
)
def test_what_an_execution_leaves_running_waits_for_the_next_one(runtime, kind, start, wait):
    with open_session(purpose="test", runtime=runtime) as session:
        run = session.shell if kind == "shell" else session.python
        ok(run(start))

        frozen(session)
        idle = used_by(session, idle_gap)
        # The same loop spins again while the next execution runs: the measure sees it.
        busy = used_by(session, lambda: ok(run(wait)))
        frozen(session)
        again = used_by(session, idle_gap)
        kept = printed(session.python("print(spins[0] > 0)")) if kind == "python" else ""

    assert idle < IDLE_USEC, f"{idle} µs of CPU used between executions"
    assert busy > 2 * IDLE_USEC, f"only {busy} µs of CPU used while the next execution ran"
    assert again < IDLE_USEC, f"{again} µs of CPU used after the second execution"
    assert kept == ("True\n" if kind == "python" else "")


def test_files_move_in_and_out_of_a_frozen_sandbox_and_it_stays_frozen(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.shell(f"echo made > out.txt; {SHELL_LOOP}"))
        frozen(session)
        container = session.sandbox.container
        limit = 1 << 20

        def transfers():
            transfer.copy_in(
                container,
                sandbox_path="in.txt",
                data=b"given\n",
                size=6,
                limit=limit,
                check=rules.check_file_type,
            )
            return transfer.copy_out(
                container, sandbox_path="out.txt", limit=limit, check=rules.check_file_type
            )

        moved = []
        idle = used_by(session, lambda: moved.append(transfers()))
        read_back = printed(session.shell("cat in.txt"))

    assert moved == [("out.txt", b"made\n")]
    assert read_back == "given\n"
    assert idle < IDLE_USEC, f"{idle} µs of CPU used while files moved"


def test_a_timeout_restarts_python_and_the_sandbox_still_freezes(runtime):
    with open_session(purpose="test", runtime=runtime, timeout=1) as session:
        ok(session.shell(SHELL_LOOP))
        stopped = run_to_end(session.python("while True: pass"))
        # The freeze waits for the new kernel: the next request finds it ready.
        frozen(session)
        idle = used_by(session, idle_gap)
        fresh = printed(session.python("x = 2\nprint(x * 21)"))
        kept = printed(session.python("print(x)"))

    assert stopped["status"] == "timeout"
    assert idle < IDLE_USEC, f"{idle} µs of CPU used between executions"
    assert (fresh, kept) == ("42\n", "2\n")


def test_a_frozen_sandbox_goes_with_its_session_at_once(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.shell(SHELL_LOOP))
        frozen(session)
        name = session.record.container_name
        started = time.monotonic()
    took = time.monotonic() - started

    assert not container_exists(name)
    # Not Docker's 10 s wait for processes that ignore the stop signal.
    assert took < 5, f"closing took {took:.1f} s"


def test_the_reaper_s_removal_takes_a_frozen_sandbox(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.python(PYTHON_THREAD))
        frozen(session)
        name = session.record.container_name
        remove_sandbox(name)  # what the reaper does with an orphan, frozen or not
        gone = not container_exists(name)
        # The session finds its sandbox gone and starts another for the next execution.
        after = run_to_end(session.python("print(1)"))

    assert gone
    assert after["status"] in ("ok", "killed")


def test_many_processes_of_the_code_live_through_repeated_freezes(runtime):
    sleepers = f"for i in $(seq {SLEEPERS}); do nohup sleep 600 >/dev/null 2>&1 & done"
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.shell(sleepers))
        ok(session.python("x = 1"))
        for _ in range(CYCLES):
            frozen(session)
            ok(session.python("x += 1"))
        count = printed(session.python("print(x)"))

    assert count == f"{CYCLES + 1}\n"


def test_the_loop_runs_no_longer_than_the_idle_moment_after_an_execution(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.shell(SHELL_LOOP))
        ok(session.shell("true"))  # its freeze is due IDLE_SECONDS after this returned
        used = used_by(session, idle_gap)

    # The loop ran until the freeze (a moment, plus the bridge's round trip), not the gap.
    assert used < (IDLE_SECONDS + 0.2) * 1e6, f"{used} µs of CPU used over the gap"


def test_a_process_started_in_a_held_sandbox_is_never_frozen_half_way(runtime):
    # Listing a turn's files runs `docker exec` in the sandbox: a freeze landing while it
    # runs would stop it for good, and the turn would wait forever.
    with open_session(purpose="test", runtime=runtime) as session:
        ok(session.python("1+1"))
        sandbox = session.sandbox
        with sandbox.held():
            sandbox.freeze_soon()  # what the end of an execution does
            done = sandbox.container.exec_run(["sh", "-c", "sleep 0.5; echo listed"])
            assert not sandbox.frozen
        assert done.output == b"listed\n"
        frozen(session)  # the freeze wanted meanwhile comes once the hold ends
        ok(session.python("print(2)"))
