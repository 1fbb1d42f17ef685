"""The session API against a real Docker engine: state, streaming, limits, hardening.

The tests marked with the `runtime` fixture run under runc and under gVisor (runsc)."""

import json
import time

import pytest

from sandbox.containers import SandboxUnavailable
from sandbox.models import Execution, SandboxSession
from sandbox.session import SessionError, open_session, run_to_end
from tests.sandbox.engine import container_exists, volume_exists

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


@pytest.fixture(params=["runc", "runsc"])
def runtime(request) -> str:
    return request.param


def run(events) -> tuple[list[dict], dict]:
    seen = list(events)
    return seen[:-1], seen[-1]


def text(events, stream="stdout") -> str:
    return "".join(e["text"] for e in events if e["type"] == stream)


# -- state -----------------------------------------------------------------------------
def test_variables_imports_and_files_persist_within_a_session(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        run_to_end(session.python("import json\nx = 41\nopen('notes.txt', 'w').write('kept')"))
        events, status = run(session.python("print(json.dumps(x + 1), open('notes.txt').read())"))
        listed, listing = run(session.shell("ls"))
    assert status["status"] == "ok"
    assert text(events) == "42 kept\n"
    assert (text(listed), listing["status"]) == ("notes.txt\n", "ok")


def test_a_new_session_sees_nothing_of_an_old_one(runtime):
    with open_session(purpose="test", runtime=runtime) as first:
        run_to_end(first.python("secret = 1\nopen('secret.txt', 'w').write('x')"))
    with open_session(purpose="test", runtime=runtime) as second:
        events, status = run(second.python("import os\nprint(os.listdir('.'))\nsecret"))
    assert text(events) == "[]\n"
    assert status["status"] == "error"
    assert [e["ename"] for e in events if e["type"] == "error"] == ["NameError"]


def test_the_last_expression_comes_back_as_a_result():
    with open_session(purpose="test") as session:
        events, status = run(session.python("6 * 7"))
    assert [e["data"]["text/plain"] for e in events if e["type"] == "result"] == ["42"]
    assert status["status"] == "ok"


def test_an_error_carries_its_name_value_and_plain_traceback():
    with open_session(purpose="test") as session:
        events, status = run(session.python("def f():\n    return 1 / 0\nf()"))
    (error,) = [e for e in events if e["type"] == "error"]
    assert (error["ename"], error["evalue"]) == ("ZeroDivisionError", "division by zero")
    assert any("return 1 / 0" in line for line in error["traceback"])
    assert not any("\x1b[" in line for line in error["traceback"])
    assert status["status"] == "error"


# -- streaming and display ---------------------------------------------------------------
def test_stdout_streams_while_the_code_runs(runtime):
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(1)"
    with open_session(purpose="test", runtime=runtime) as session:
        started = time.monotonic()
        events = session.python(code)
        first = next(events)
        first_after = time.monotonic() - started
        rest, status = run(events)
    assert first == {"type": "stdout", "text": "0\n"}
    assert first_after < 1.0
    assert status["status"] == "ok" and status["duration_ms"] >= 2000
    assert text(rest) == "1\n2\n"


def test_a_chart_arrives_as_a_png_without_being_saved():
    with open_session(purpose="test") as session:
        events, status = run(session.python("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])"))
    (display,) = [e for e in events if e["type"] == "display"]
    assert display["data"]["image/png"].startswith("iVBORw0KGgo")  # PNG magic, base64
    assert status["status"] == "ok"


def test_rich_html_output_is_kept():
    code = "from IPython.display import HTML, display\ndisplay(HTML('<b>bold</b>'))"
    with open_session(purpose="test") as session:
        events, _ = run(session.python(code))
    assert [e["data"]["text/html"] for e in events if e["type"] == "display"] == ["<b>bold</b>"]


def test_huge_output_is_truncated_with_a_notice(settings):
    settings.TURNBOX_SANDBOX_MAX_OUTPUT_BYTES = 64 * 1024
    with open_session(purpose="test") as session:
        events, status = run(session.python("print('x' * 1_000_000)\nprint('y' * 1_000_000)"))
        after, _ = run(session.python("print('still here')"))
    assert len(text(events).encode()) <= 64 * 1024
    assert "output truncated" in text(events, "stderr")
    assert status["truncated"] is True and status["status"] == "ok"
    assert text(after) == "still here\n"


# -- shell -------------------------------------------------------------------------------
def test_shell_commands_share_the_files_and_report_their_exit_code(runtime):
    with open_session(purpose="test", runtime=runtime) as session:
        run_to_end(session.python("open('data.csv', 'w').write('a,b\\n1,2\\n')"))
        events, status = run(session.shell("wc -l data.csv; echo oops >&2; exit 3"))
    assert text(events) == "2 data.csv\n"
    assert text(events, "stderr") == "oops\n"
    assert (status["status"], status["exit_code"]) == ("error", 3)


def test_a_background_process_does_not_hold_the_command_open():
    with open_session(purpose="test") as session:
        events, status = run(session.shell("sleep 300 & echo $! > job.pid; echo started"))
        _, check = run(session.shell("kill -0 $(cat job.pid)"))
        name = session.sandbox.name
    assert text(events) == "started\n" and status["status"] == "ok"
    assert status["duration_ms"] < 5000
    assert check["status"] == "ok"  # still running inside the session ...
    assert not container_exists(name)  # ... and gone with it


# -- limits ------------------------------------------------------------------------------
def test_a_timeout_interrupts_the_code_and_keeps_the_variables(runtime, settings):
    # What is tested is that an interrupt keeps the kernel, not how fast a loaded
    # machine delivers it under gVisor: the grace is generous here.
    settings.TURNBOX_SANDBOX_INTERRUPT_GRACE_SECONDS = 3
    with open_session(purpose="test", runtime=runtime, timeout=2) as session:
        run_to_end(session.python("kept = 'yes'"))
        events, status = run(session.python("while True:\n    pass"))
        after, _ = run(session.python("print(kept)"))
    assert status["status"] == "timeout"
    assert 2000 <= status["duration_ms"] < 4000
    assert "Variables were kept" in status["message"]
    assert not [e for e in events if e["type"] == "error"]
    assert text(after) == "yes\n"


def test_code_that_ignores_the_interrupt_is_killed_and_python_restarts():
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    with open_session(purpose="test", timeout=2) as session:
        run_to_end(session.python("lost = 1\nopen('kept.txt', 'w').write('file')"))
        _, status = run(session.python(code))
        after, after_status = run(session.python("print(open('kept.txt').read())\nlost"))
    assert status["status"] == "timeout"
    assert "restarted" in status["message"]
    assert status["duration_ms"] < 4000
    assert text(after) == "file\n"
    assert [e["ename"] for e in after if e["type"] == "error"] == ["NameError"]
    assert after_status["status"] == "error"


def test_the_next_execution_does_not_pay_for_restarting_python(runtime):
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    with open_session(purpose="test", runtime=runtime, timeout=1) as session:
        run_to_end(session.python(code))
        events, status = run(session.python("1 + 1"))
    assert [e["data"]["text/plain"] for e in events if e["type"] == "result"] == ["2"]
    assert status["status"] == "ok" and "message" not in status
    assert status["duration_ms"] < 1000  # the restart (about a second) is not in it


def test_a_shell_timeout_kills_the_whole_process_group():
    with open_session(purpose="test", timeout=2) as session:
        _, status = run(session.shell("(sleep 300; echo late) & echo $! > job.pid; sleep 300"))
        events, _ = run(session.shell("kill -0 $(cat job.pid) 2>/dev/null || echo none"))
    assert status["status"] == "timeout"
    assert text(events) == "none\n"


def test_running_out_of_memory_is_reported_and_the_session_goes_on(runtime):
    with open_session(purpose="test", runtime=runtime, memory_mb=256) as session:
        run_to_end(session.python("before = 1"))
        _, status = run(session.python("x = [1] * 10**9"))
        after, after_status = run(session.python("print('alive')"))
    assert status["status"] == "killed"
    assert "out of memory (limit 256 MiB)" in status["message"]
    # runc kills the Python process; gVisor stops the whole sandbox, files and all.
    lost = "Variables were lost" if runtime == "runc" else "Variables and files were lost"
    assert lost in status["message"]
    assert after_status["status"] == "ok" and text(after) == "alive\n"


def test_a_python_process_that_exits_is_reported_and_replaced():
    with open_session(purpose="test") as session:
        _, status = run(session.python("import os\nos._exit(3)"))
        after, _ = run(session.python("print('fresh')"))
    assert status["status"] == "killed"
    assert "Python starts afresh" in status["message"]
    assert text(after) == "fresh\n"


def test_a_fork_bomb_is_contained(runtime, settings):
    # The kernel's own count for the container's cgroup: listing /proc while the bomb
    # churns can see a process that has gone and the one that took its place.
    count = (
        "import os\n"
        "paths = ['/sys/fs/cgroup/pids.current', '/sys/fs/cgroup/pids/pids.current']\n"
        "found = [p for p in paths if os.path.exists(p)]\n"
        "int(open(found[0]).read()) if found else "
        "len([p for p in os.listdir('/proc') if p.isdigit()])"
    )
    with open_session(purpose="test", runtime=runtime, timeout=5) as session:
        name = session.sandbox.name
        run(session.shell("bomb() { bomb | bomb & }; bomb"))
        time.sleep(2)  # let it fill the process table
        events, status = run(session.python(count))
    if status["status"] == "ok":
        (result,) = [e for e in events if e["type"] == "result"]
        assert int(result["data"]["text/plain"]) <= settings.TURNBOX_SANDBOX_PIDS
    else:  # gVisor's own threads count against the limit: the sandbox stops instead
        assert runtime == "runsc" and "sandbox was stopped" in status["message"]
    assert not container_exists(name)  # the bomb went with the session
    with open_session(purpose="test", runtime=runtime) as fresh:
        events, _ = run(fresh.shell("echo fine"))
    assert text(events) == "fine\n"


def test_writing_past_the_disk_quota_fails_cleanly(settings, runtime):
    settings.TURNBOX_SANDBOX_DISK_MB = 32
    with open_session(purpose="test", runtime=runtime) as session:
        events, status = run(session.shell("head -c 64M /dev/zero > big.bin"))
        _, tmp_status = run(session.shell("head -c 200M /dev/zero > /tmp/big.bin"))
        after, _ = run(session.shell("rm big.bin && echo cleaned"))
    assert status["status"] == "error"
    assert "No space left on device" in text(events, "stderr")
    assert tmp_status["status"] == "error"
    assert text(after) == "cleaned\n"


# -- hardening ---------------------------------------------------------------------------
def test_there_is_no_network(runtime):
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__)\n"
        "lines = open('/proc/net/dev').readlines()[2:]\n"
        "print(sorted(line.split(':')[0].strip() for line in lines))"
    )
    with open_session(purpose="test", runtime=runtime) as session:
        events, _ = run(session.python(code))
    out = text(events)
    assert out.startswith("refused")
    assert out.endswith("['lo']\n")


def test_the_root_file_system_is_read_only_and_the_user_is_not_root(runtime):
    command = (
        "awk '$2 == \"/\" {print $4}' /proc/mounts | cut -d, -f1; id -u; "
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '"
    )
    with open_session(purpose="test", runtime=runtime) as session:
        events, _ = run(session.shell(command))
    lines = text(events).splitlines()
    assert lines[0] == "ro"
    assert lines[1] == "1000"
    assert "CapEff: 0000000000000000" in lines
    if runtime == "runc":  # gVisor does not report the flag in /proc
        assert "NoNewPrivs: 1" in lines


# -- records and the end of a session ------------------------------------------------------
def test_each_execution_is_recorded_with_its_duration(team):
    with open_session(workspace=team.workspace, purpose="test") as session:
        run_to_end(session.python("print('hello')"))
        run_to_end(session.shell("exit 2"))
        record = session.record
    record.refresh_from_db()
    python, shell = record.executions.all()
    assert (python.kind, python.status, python.stdout) == ("python", "ok", "hello\n")
    assert (shell.kind, shell.status, shell.exit_code) == ("shell", "error", 2)
    assert all(e.duration_ms is not None and e.ended_at for e in (python, shell))
    assert (record.status, record.end_reason) == ("closed", "closed")
    assert record.workspace == team.workspace and record.closed_at


def test_the_container_is_gone_after_close():
    with open_session(purpose="test") as session:
        name = session.sandbox.name
        assert container_exists(name)
    assert not container_exists(name)
    assert not volume_exists(name)


def test_the_container_is_gone_after_an_exception_in_the_block():
    with pytest.raises(ZeroDivisionError), open_session(purpose="test") as session:
        name = session.sandbox.name
        raise ZeroDivisionError
    assert not container_exists(name)
    assert SandboxSession.objects.get(pk=session.record.pk).end_reason == "error"


def test_a_session_that_cannot_start_says_why_and_is_recorded(settings, team):
    settings.TURNBOX_SANDBOX_IMAGE = "turnbox-sandbox:does-not-exist"
    opening = open_session(workspace=team.workspace, purpose="test")
    with pytest.raises(SandboxUnavailable, match="build_sandbox_image"), opening:
        pass
    record = SandboxSession.objects.get(workspace=team.workspace)
    assert (record.status, record.end_reason) == ("closed", "start_failed")


def test_status_events_are_plain_json():
    with open_session(purpose="test") as session:
        events = list(session.python("print('a')"))
    assert json.loads(json.dumps(events)) == events
    assert type(events[-1]["status"]) is str


def test_a_closed_session_refuses_more_work():
    with open_session(purpose="test") as session:
        pass
    with pytest.raises(SessionError, match="closed"):
        run_to_end(session.python("1"))


def test_abandoning_an_execution_stops_the_code_and_records_it():
    with open_session(purpose="test") as session:
        events = session.python("import time\nprint('go', flush=True)\ntime.sleep(60)")
        assert next(events)["type"] == "stdout"
        events.close()
        _, status = run(session.python("print('next')"))
    execution = Execution.objects.filter(session=session.record).first()
    assert execution.status == "killed"
    assert execution.message.startswith("Stopped before it finished.")
    assert status["status"] == "ok"
