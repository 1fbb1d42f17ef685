"""The sandbox commands, against real Docker: sandbox_run, sandbox_reap, sandbox_bench."""

import json
import re
import socket
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from docker.errors import NotFound

from sandbox import containers
from sandbox.containers import CREATED_LABEL, LABEL, OWNER_LABEL, docker_client, remove_sandbox
from sandbox.egress import image as egress_image
from sandbox.management.commands.sandbox_run import Command as RunCommand
from sandbox.models import SandboxSession
from tests.sandbox.egress_lab import HELLO, PORT, running_lab
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
        "print('still here'); 6 * 7",
    )
    assert "ZeroDivisionError" in err
    assert re.search(r"^\[error \d+ ms\]$", err, re.MULTILINE)
    assert re.search(r"^\[timeout \d+ ms: The code was stopped after 1 s", err, re.MULTILINE)
    assert out.endswith("still here\n42\n")


@pytest.mark.django_db
def test_a_chart_is_named_by_its_type_and_size():
    # The default time limit: a cold matplotlib import can take seconds on a busy host.
    out, _ = run(
        "sandbox_run", "--code", "import matplotlib.pyplot as plt; plt.plot([1, 2]); plt.show()"
    )
    assert re.search(r"^\[display: image/png, \d+ KB\]$", out, re.MULTILINE)


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
    summaries = ("cold_start", "warm_first_output", "round_trip", "round_trip_frozen")
    summaries = (*summaries, "bridge_round_trip")
    for key in (*summaries, "first_stdout"):
        assert runc[key]["p50_ms"] > 0 and runc[key]["p95_ms"] >= runc[key]["p50_ms"]
    assert runc["concurrency"]["held"] == 2
    assert runc["concurrency"]["total_memory_mb"] > 0
    assert runc["concurrency"]["median_memory_mb"] > 0
    # Whole milliseconds past the limit: a very prompt stop can round to zero.
    assert all(value >= 0 for value in runc["timeout_overshoot_ms"].values())
    assert set(runc["timeout_overshoot_ms"]) == {"busy_loop", "sleep"}
    # The floor is measured in the same run, and the cold start is put beside it.
    floor = runc["floor"]
    assert floor["docker_run_true_ms"] > 0 and floor["hardened_print_ms"] > 0
    expected = round(runc["cold_start"]["p50_ms"] / floor["docker_run_true_ms"], 2)
    assert runc["vs_floor"]["cold_start_over_docker_run_true"] == expected
    assert set(runc["vs_floor"]) == {
        "cold_start_over_docker_run_true",
        "cold_start_over_hardened_print",
    }
    assert runc["output_throughput"]["lines_mb_per_s"] > 0
    assert runc["output_throughput"]["bulk_mb_per_s"] > 0
    assert SandboxSession.objects.filter(purpose="bench", status="open").count() == 0


@pytest.mark.django_db(transaction=True)
def test_bench_prints_the_floor_and_the_ratios_in_its_table():
    out, _ = run("sandbox_bench", "--runs", "1", "--concurrency", "1", "--runtime", "runc")
    for label in ("floor: docker run true", "over the floors", "output, printed lines"):
        assert label in out
    assert re.search(r"over the floors \(p50\)\s+\d+\.\d\dx / \d+\.\d\dx", out)
    assert re.search(r"\d+\.\d / \d+\.\d MB/s", out)


# -- sandbox_run and the network -----------------------------------------------------------
@pytest.fixture(scope="module")
def lab(docker_engine, sandbox_image, egress_proxy_image):
    with running_lab(sandbox_image) as lab:
        yield lab


FETCH = (
    "import urllib.request\n"
    "def fetch(url):\n"
    "    try:\n"
    "        return urllib.request.urlopen(url, timeout=20).read().decode()\n"
    "    except Exception as error:\n"
    "        return f'failed: {error}'\n"
)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--network", "none", "--allow", "pypi.org"], "make an allowlist, not --network none"),
        (["--network", "open", "--allow-preset", "python-packages"], "not --network open"),
        (["--network", "allowlist"], "needs --allow DOMAIN or --allow-preset NAME"),
        (["--allow", "https://pypi.org", "--allow", "10.0.0.1"], "not a URL"),
        (["--allow-preset", "ruby-gems"], "invalid choice: 'ruby-gems'"),
        (["--network", "everything"], "invalid choice: 'everything'"),
    ],
)
def test_sandbox_run_refuses_a_policy_that_makes_no_sense_in_plain_words(args, says):
    with pytest.raises(CommandError, match=says):
        run("sandbox_run", *args, "--code", "1")


@pytest.mark.django_db
def test_sandbox_run_without_a_network_has_no_proxy(lab):
    code = "import os; print(sorted(k for k in os.environ if 'proxy' in k.lower()))"
    out, _ = run("sandbox_run", "--network", "none", "--code", code)
    assert out == "[]\n"
    assert SandboxSession.objects.get(purpose="sandbox_run").network["mode"] == "none"


@pytest.mark.django_db
def test_sandbox_run_with_the_open_policy_reaches_a_public_name(lab):
    code = FETCH + f"print(fetch('http://other.turnbox.test:{PORT}/'))\n"
    code += "print(fetch('http://169.254.169.254/latest/'))"
    out, _ = run("sandbox_run", "--network", "open", "--code", code)
    reached, refused = out.splitlines()
    assert reached == HELLO
    assert refused.startswith("failed: HTTP Error 403")
    assert SandboxSession.objects.get(purpose="sandbox_run").network == {
        "mode": "open",
        "rules": [],
    }


@pytest.mark.django_db
def test_sandbox_run_with_the_python_packages_preset_reaches_the_index_only(lab):
    code = FETCH + "print(fetch('https://pypi.org/simple/six/')[:15])\n"
    code += f"print(fetch('http://allowed.turnbox.test:{PORT}/'))"
    out, err = run("sandbox_run", "--allow-preset", "python-packages", "--code", code)
    index, other = out.splitlines()
    assert index == "<!DOCTYPE html>", (out, err)
    assert other.startswith("failed: HTTP Error 403")
    # Named once, in the execution's status line.
    assert err.count("etwork access to allowed.turnbox.test:8080 is blocked") == 1, err
    network = SandboxSession.objects.get(purpose="sandbox_run").network
    assert network == {
        "mode": "allowlist",
        "rules": [["pypi.org", None], ["files.pythonhosted.org", None]],
    }


# -- egress_proxy --------------------------------------------------------------------------
def test_egress_proxy_builds_starts_replaces_and_stops_a_proxy(egress_proxy_image):
    name = f"turnbox-egress-command-{int(time.time() * 1000)}"
    api = docker_client().api
    with override_settings(TURNBOX_EGRESS_PROXY=name):
        try:
            built, _ = run("egress_proxy", "--build-only")
            assert built.strip() == egress_image.image_tag() == egress_proxy_image
            assert not container_exists(name)
            started, _ = run("egress_proxy")
            first = api.inspect_container(name)
            again, _ = run("egress_proxy")
            assert started.strip() == again.strip() == name
            assert api.inspect_container(name)["Id"] == first["Id"]
            run("egress_proxy", "--replace")
            second = api.inspect_container(name)
            assert second["Id"] != first["Id"]
            assert second["State"]["Running"]
            assert second["Config"]["Image"] == egress_proxy_image
        finally:
            run("egress_proxy", "--stop")
    assert not container_exists(name)
    with pytest.raises(NotFound):
        api.inspect_network(f"{name}-out")


@pytest.mark.django_db
def test_sandbox_run_asked_for_gvisor_with_a_network_says_to_choose_runc(monkeypatch):
    # An engine whose gVisor has no networked registration (runsc-net).
    monkeypatch.setattr(containers, "_engine_runtimes", frozenset({"runc", "runsc"}))
    with pytest.raises(CommandError, match="choose runc for a session with a network"):
        run("sandbox_run", "--runtime", "runsc", "--allow", "example.org", "--code", "1")
