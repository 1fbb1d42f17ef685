"""The sandbox commands, against real Docker: sandbox_run, sandbox_reap, sandbox_bench."""

import json
import re
import socket
import time
from io import StringIO

import pytest
from django.core.management import call_command

from sandbox.containers import CREATED_LABEL, LABEL, OWNER_LABEL, docker_client, remove_sandbox
from sandbox.management.commands.sandbox_run import Command as RunCommand
from sandbox.models import SandboxSession
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("sandbox_image")

EVENT_TYPES = {"stdout", "stderr", "display", "result", "error", "status"}
DEAD_OWNER = f"{socket.gethostname()}/999999999/1"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_json(*args: str) -> list[dict]:
    out, _ = run("sandbox_run", "--json", *args)
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.django_db
def test_codes_share_one_session_and_every_line_is_an_event():
    events = run_json("--code", "x = 1", "--code", "print(x)")
    assert {event["type"] for event in events} <= EVENT_TYPES
    assert [e["status"] for e in events if e["type"] == "status"] == ["ok", "ok"]
    assert {"type": "stdout", "text": "1\n"} in events
    record = SandboxSession.objects.get(purpose="sandbox_run")
    assert record.status == SandboxSession.Status.CLOSED
    assert record.executions.count() == 2


@pytest.mark.django_db
def test_a_shell_command_reports_its_exit_code():
    events = run_json("--shell", "--code", "echo hi; exit 3")
    assert events[0] == {"type": "stdout", "text": "hi\n"}
    assert events[-1]["type"] == "status"
    assert events[-1]["exit_code"] == 3


@pytest.mark.django_db
def test_user_errors_and_timeouts_are_output_not_failures():
    out, err = run(
        "sandbox_run",
        "--timeout",
        "1",
        "--code",
        "1/0",
        "--code",
        "while True: pass",
        "--code",
        "import matplotlib.pyplot as plt; plt.plot([1, 2]); plt.show()",
        "--code",
        "print('still here'); 6 * 7",
    )
    assert "ZeroDivisionError" in err
    assert re.search(r"^\[error \d+ ms\]$", err, re.MULTILINE)
    assert re.search(r"^\[timeout \d+ ms: The code was stopped after 1 s", err, re.MULTILINE)
    assert re.search(r"^\[display: image/png, \d+ KB\]$", out, re.MULTILINE)
    assert out.endswith("still here\n42\n")


@pytest.mark.django_db(transaction=True)
def test_a_missing_image_exits_non_zero_and_says_how_to_build_it(settings, capsys):
    settings.TURNBOX_SANDBOX_IMAGE = "turnbox-sandbox:missing"
    with pytest.raises(SystemExit) as exit_:
        RunCommand().run_from_argv(["manage.py", "sandbox_run", "--code", "1"])
    assert exit_.value.code != 0
    assert "build_sandbox_image" in capsys.readouterr().err


@pytest.fixture
def orphan(sandbox_image):
    """A container and volume labelled as a sandbox whose process is gone."""
    name = f"turnbox-sandbox-test-orphan-{int(time.time() * 1000)}"
    labels = {LABEL: "1", OWNER_LABEL: DEAD_OWNER, CREATED_LABEL: str(int(time.time()))}
    client = docker_client()
    client.volumes.create(name=name, labels=labels)
    client.containers.create(sandbox_image, ["sleep", "600"], name=name, labels=labels)
    yield name
    remove_sandbox(name)


@pytest.mark.django_db
def test_reap_removes_an_orphan_and_says_so(orphan):
    out, _ = run("sandbox_reap")
    lines = out.splitlines()
    assert orphan in lines
    assert re.fullmatch(r"removed \d+ sandbox(es)?", lines[-1])
    assert not container_exists(orphan)


# The warm pool's thread writes to the database while the bench runs.
@pytest.mark.django_db(transaction=True)
def test_bench_prints_one_json_report():
    out, _ = run(
        "sandbox_bench", "--json", "--runs", "3", "--concurrency", "2", "--runtime", "runc"
    )
    report = json.loads(out)
    assert set(report["runtimes"]) == {"runc"}
    runc = report["runtimes"]["runc"]
    summaries = ("cold_start", "warm_first_output", "round_trip", "bridge_round_trip")
    for key in (*summaries, "first_stdout"):
        assert runc[key]["p50_ms"] > 0 and runc[key]["p95_ms"] >= runc[key]["p50_ms"]
    assert runc["concurrency"]["held"] == 2
    assert runc["concurrency"]["total_memory_mb"] > 0
    assert runc["concurrency"]["median_memory_mb"] > 0
    # Whole milliseconds past the limit: a very prompt stop can round to zero.
    assert all(value >= 0 for value in runc["timeout_overshoot_ms"].values())
    assert set(runc["timeout_overshoot_ms"]) == {"busy_loop", "sleep"}
    assert SandboxSession.objects.filter(purpose="bench", status="open").count() == 0
