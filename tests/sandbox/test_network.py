"""Network egress against a real Docker engine and a real Squid proxy: the module's own
proxy and a stand-in for a host on the Internet (tests/sandbox/egress_lab.py). Nothing
leaves the machine except pip's requests to the package index.
"""

import ipaddress
import os
import re
import socket
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.test import override_settings
from docker.errors import NotFound

from sandbox import containers, pool, reaper, services
from sandbox.containers import (
    CREATED_LABEL,
    LABEL,
    OWNER_LABEL,
    SandboxUnavailable,
    docker_client,
)
from sandbox.egress import feed, links
from sandbox.egress import image as egress_image
from sandbox.egress import proxy as egress_proxy
from sandbox.egress import refused as egress_refused
from sandbox.models import Execution, NetworkAttempt, SandboxSession
from sandbox.network import NetworkPolicy
from sandbox.selectors import network_attempts, workspace_network_policy
from sandbox.services import sandbox_network_policy_set
from sandbox.session import open_session
from tests.sandbox.egress_lab import HELLO, PORT, SANDBOX_SUBNETS, running_lab

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


@pytest.fixture(scope="module")
def lab(docker_engine, sandbox_image, egress_proxy_image):
    with running_lab(sandbox_image) as lab:
        yield lab


DEAD_OWNER = f"{socket.gethostname()}/999999999/1"


def run(events) -> tuple[list[dict], dict]:
    seen = list(events)
    return seen[:-1], seen[-1]


def stdout(events) -> str:
    return "".join(e["text"] for e in events if e["type"] == "stdout")


def blocked(events) -> list[dict]:
    return [e for e in events if e["type"] == "network_blocked"]


FETCH = """
import time, urllib.request, urllib.error
def fetch(url):
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=20) as answer:
            result = answer.read().decode()
    except urllib.error.HTTPError as error:
        result = f"HTTP {error.code}: {error.read().decode().strip()}"
    except Exception as error:
        result = f"failed: {error}"
    return result, time.monotonic() - started
"""

CONNECT = """
import socket, time
def connect(host, port):
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=20).close()
        result = "connected"
    except OSError as error:
        result = f"failed: {error}"
    return result, time.monotonic() - started
"""


def allowlist(*entries: str) -> NetworkPolicy:
    return NetworkPolicy.allowlist(entries)


# -- none ----------------------------------------------------------------------------------
def test_without_a_policy_every_attempt_fails_at_once(lab):
    code = f"""
import os
print(sorted(k for k in os.environ if "proxy" in k.lower()))
for url in ["https://pypi.org/simple/six/", "http://allowed.turnbox.test:{PORT}/"]:
    print(*fetch(url))
for host in ["{lab.server_ip}", "203.0.113.80", "169.254.169.254"]:
    print(*connect(host, 443))
"""
    with open_session(purpose="test") as session:
        assert session.sandbox.link is None
        events, status = run(session.python(FETCH + CONNECT + code))
    lines = stdout(events).splitlines()
    assert lines[0] == "[]"
    assert all(line.split()[0] == "failed:" for line in lines[1:])
    assert all(float(line.split()[-1]) < 2 for line in lines[1:]), lines
    assert status["status"] == "ok"
    assert blocked(events) == []


def test_pip_install_fails_without_a_network(lab):
    with open_session(purpose="test") as session:
        _events, status = run(session.shell("pip install --retries 0 --timeout 5 six"))
    assert status["status"] == "error"
    assert status["exit_code"] != 0


# -- allowlist -----------------------------------------------------------------------------
def test_an_allowed_name_is_reached_through_the_proxy(lab):
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(
            s.python(FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])")
        )
        record = s.record
    assert stdout(events) == f"{HELLO}\n"
    assert status == {"type": "status", "status": "ok", "duration_ms": status["duration_ms"]}
    (attempt,) = NetworkAttempt.objects.filter(session=record)
    assert (attempt.host, attempt.port, attempt.verdict) == (
        "allowed.turnbox.test",
        PORT,
        "allowed",
    )
    assert attempt.execution == Execution.objects.get(session=record)
    assert record.network == {"mode": "allowlist", "rules": [["allowed.turnbox.test", PORT]]}


def test_curl_and_wget_use_the_proxy_unchanged(lab):
    url = f"http://allowed.turnbox.test:{PORT}/"
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.shell(f"curl -sS --max-time 10 {url} && wget -qO- -T 10 {url}"))
    assert status["status"] == "ok", events
    assert stdout(events) == f"{HELLO}{HELLO}"


def test_requests_uses_the_proxy_unchanged(lab):
    code = (
        "import requests\n"
        f"answer = requests.get('http://allowed.turnbox.test:{PORT}/', timeout=10)\n"
        "print(answer.status_code, answer.text)\n"
        f"refused = requests.get('http://other.turnbox.test:{PORT}/', timeout=10)\n"
        "print(refused.status_code, refused.text.strip())"
    )
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.python(code))
    assert status["status"] == "ok", events
    reached, refused = stdout(events).splitlines()
    assert reached == f"200 {HELLO}"
    assert refused == (
        f"403 network access to other.turnbox.test:{PORT} is blocked by this workspace's policy"
    )


def test_curl_to_a_name_not_listed_is_refused(lab):
    url = f"http://other.turnbox.test:{PORT}/"
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.shell(f"curl -sS -f --max-time 10 {url}"))
    assert status["status"] == "error"
    assert [e["host"] for e in blocked(events)] == ["other.turnbox.test"]


def test_a_name_not_listed_is_refused_with_a_clear_message(lab):
    code = (
        FETCH
        + f"""
print(fetch('http://other.turnbox.test:{PORT}/')[0])
print(fetch('https://example.com/')[0])
print(fetch('https://example.com/again')[0])
"""
    )
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.python(code))
        record = s.record
    page, tunnel, _ = stdout(events).splitlines()
    message = f"network access to other.turnbox.test:{PORT} is blocked by this workspace's policy"
    assert page == f"HTTP 403: {message}"
    assert "Tunnel connection failed: 403" in tunnel
    assert blocked(events) == [
        {
            "type": "network_blocked",
            "host": "other.turnbox.test",
            "port": PORT,
            "reason": "policy",
            "count": 1,
            "message": message,
        },
        {
            "type": "network_blocked",
            "host": "example.com",
            "port": 443,
            "reason": "policy",
            "count": 2,
            "message": "network access to example.com is blocked by this workspace's policy",
        },
    ]
    # The status, which goes back to the model, says so too.
    assert message[:1].upper() + message[1:] + "." in status["message"]
    assert "Network access to example.com is blocked" in status["message"]
    execution = Execution.objects.get(session=record)
    assert execution.message == status["message"]
    found = network_attempts(session=record, since=execution.started_at, blocked_only=True)
    assert [(a.host, a.verdict, a.count) for a in found] == [
        ("other.turnbox.test", "blocked", 1),
        ("example.com", "blocked", 2),
    ]


def test_a_direct_connection_bypassing_the_proxy_fails(lab):
    code = (
        CONNECT
        + f"""
import socket
print(*connect("{lab.server_ip}", {PORT}))
print(*connect("203.0.113.80", 443))
for name in ("allowed.turnbox.test", "example.com"):
    try:
        socket.getaddrinfo(name, {PORT})
        print("resolved")
    except OSError as error:
        print("no name:", error)
"""
    )
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, _status = run(s.python(code))
        host_config = docker_client().api.inspect_container(s.sandbox.name)["HostConfig"]
    server, internet, *names = stdout(events).splitlines()
    for line in (server, internet):
        assert line.startswith("failed:"), line
        assert float(line.split()[-1]) < 10
    assert len(names) == 2 and all(name.startswith("no name:") for name in names), names
    # Not Docker's embedded resolver forwarding from the host (CVE-2024-29018).
    assert host_config["Dns"] == links.SANDBOX_DNS


def test_an_allowed_name_that_resolves_to_a_private_address_is_refused(lab):
    policy = allowlist("internal.turnbox.test:3128", "metadata.turnbox.test")
    code = FETCH + "print(fetch('http://internal.turnbox.test:3128/')[0])\n"
    code += "print(fetch('http://metadata.turnbox.test/latest/meta-data/')[0])\n"
    with open_session(purpose="test", network=policy) as s:
        events, _status = run(s.python(code))
        record = s.record
    for line in stdout(events).splitlines():
        assert line.startswith("HTTP 403: network access to ")
        assert "private and internal addresses are never reachable" in line
    assert [(e["host"], e["reason"]) for e in blocked(events)] == [
        ("internal.turnbox.test", "private"),
        ("metadata.turnbox.test", "private"),
    ]
    verdicts = NetworkAttempt.objects.filter(session=record).values_list("verdict", flat=True)
    assert set(verdicts) == {"private"}


def test_open_reaches_any_public_name_but_still_no_private_address(lab):
    code = (
        FETCH
        + f"""
print(fetch('http://other.turnbox.test:{PORT}/')[0])
print(fetch('http://169.254.169.254/latest/')[0])
print(fetch('http://internal.turnbox.test:3128/')[0])
print(fetch('http://10.0.0.1/')[0])
"""
    )
    with open_session(purpose="test", network=NetworkPolicy.open()) as s:
        events, _status = run(s.python(code))
    reached, *refused = stdout(events).splitlines()
    assert reached == HELLO
    assert all("private and internal addresses are never reachable" in line for line in refused), (
        refused
    )
    assert {e["reason"] for e in blocked(events)} == {"private"}


def test_open_refuses_the_mail_ports_with_a_clear_message(lab):
    code = FETCH + "".join(
        f"print(fetch('http://other.turnbox.test:{port}/')[0])\n" for port in (25, 465, 587)
    )
    with open_session(purpose="test", network=NetworkPolicy.open()) as s:
        events, _status = run(s.python(code))
    for port, line in zip((25, 465, 587), stdout(events).splitlines(), strict=True):
        target = f"other.turnbox.test:{port}"
        assert line == f"HTTP 403: network access to {target} is blocked by this workspace's policy"
    assert [(e["port"], e["reason"]) for e in blocked(events)] == [
        (25, "policy"),
        (465, "policy"),
        (587, "policy"),
    ]


def test_pip_install_works_with_the_python_packages_preset(lab):
    policy = NetworkPolicy.allowlist(presets=["python-packages"])
    with open_session(purpose="test", network=policy) as s:
        _, installed = run(s.shell("pip install six"))
        events, imported = run(s.python("import six; print(six.__file__)"))
    assert installed["status"] == "ok", installed
    assert imported["status"] == "ok"
    assert stdout(events).startswith(f"{links.PACKAGES_DIR}/six.py")


def test_pip_install_is_refused_when_the_index_is_not_listed(lab):
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.shell("pip install --retries 0 --timeout 5 six"))
    assert status["exit_code"] != 0
    assert ("pypi.org", 443, "policy") in {
        (e["host"], e["port"], e["reason"]) for e in blocked(events)
    }


# -- policies and sessions -----------------------------------------------------------------
def test_a_changed_workspace_policy_applies_to_the_next_session(lab, team):
    url = f"http://allowed.turnbox.test:{PORT}/"
    code = FETCH + f"print(fetch('{url}')[0])"
    sandbox_network_policy_set(
        workspace=team.workspace, mode="allowlist", domains=["pypi.org"], presets=[]
    )
    with open_session(network=workspace_network_policy(workspace=team.workspace)) as s:
        before = stdout(run(s.python(code))[0])
    sandbox_network_policy_set(
        workspace=team.workspace, mode="allowlist", domains=[f"*.turnbox.test:{PORT}"], presets=[]
    )
    with open_session(network=workspace_network_policy(workspace=team.workspace)) as s:
        after = stdout(run(s.python(code))[0])
    assert before.startswith("HTTP 403: network access to allowed.turnbox.test")
    assert after == f"{HELLO}\n"


def test_a_sessions_network_goes_with_it(lab):
    client = docker_client()
    with open_session(purpose="test", network=allowlist("pypi.org")) as s:
        name = s.sandbox.name
        assert client.api.inspect_network(name)["Internal"] is True
        attached = client.api.inspect_container(lab.proxy)["NetworkSettings"]["Networks"]
        assert name in attached
    with pytest.raises(NotFound):
        client.api.inspect_network(name)
    assert name not in client.api.inspect_container(lab.proxy)["NetworkSettings"]["Networks"]


def test_a_session_whose_sandbox_was_lost_leaves_nothing_in_the_record_feed(lab):
    api = docker_client().api
    code = "print('started', flush=True); import time; time.sleep(60)"
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        session_id = str(s.record.id)
        events = []
        for event in s.python(code):
            events.append(event)
            if event["type"] == "stdout":
                api.kill(s.sandbox.name)
        assert session_id in feed._feeds[lab.proxy].sessions()
    assert "ended unexpectedly" in events[-1]["message"]
    assert session_id not in feed._feeds[lab.proxy].sessions()


def test_an_execution_is_finished_even_when_its_network_records_cannot_be_stored(
    lab, monkeypatch, caplog
):
    def unavailable(**_kwargs):
        raise DatabaseError("the database is away")

    monkeypatch.setattr(services, "network_attempts_record", unavailable)
    code = FETCH + f"print(fetch('http://other.turnbox.test:{PORT}/')[0])"
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, status = run(s.python(code))
        record = s.record
    execution = Execution.objects.get(session=record)
    assert status["status"] == execution.status == "ok"
    assert execution.ended_at is not None
    assert "other.turnbox.test" in status["message"]
    assert [e["host"] for e in blocked(events)] == ["other.turnbox.test"]
    assert "network records of session" in caplog.text


@pytest.fixture
def gvisor_without_network(monkeypatch, docker_engine):
    """An engine with gVisor registered for sandboxes without a network only."""
    if "runsc" not in docker_engine.info().get("Runtimes", {}):
        pytest.skip("gVisor (runsc) is not registered with this Docker engine.")
    monkeypatch.setattr(containers, "_engine_runtimes", frozenset({"runc", "runsc"}))


def test_gvisor_sessions_cannot_have_a_network_where_the_engine_lacks_runsc_net(
    lab, gvisor_without_network
):
    with pytest.raises(SandboxUnavailable, match="not available under gVisor"):
        open_session(purpose="test", runtime="runsc", network=allowlist("pypi.org")).__enter__()
    assert not SandboxSession.objects.filter(runtime="runsc").exists()


def test_with_gvisor_configured_a_network_session_is_refused_unless_the_operator_allows_runc(
    lab, settings, gvisor_without_network
):
    """A workspace admin who enables a network must not move its code off gVisor: only the
    operator's TURNBOX_SANDBOX_NETWORK_RUNTIME can."""
    settings.TURNBOX_SANDBOX_RUNTIME = "runsc"
    settings.TURNBOX_SANDBOX_NETWORK_RUNTIME = ""
    policy = allowlist(f"allowed.turnbox.test:{PORT}")
    with pytest.raises(SandboxUnavailable) as refused:
        open_session(purpose="test", network=policy).__enter__()
    assert str(refused.value) == (
        "Network access is not available under gVisor (runsc) on this engine: it has no "
        "runsc-net runtime. The operator can run sessions with a network under runc by "
        "setting TURNBOX_SANDBOX_NETWORK_RUNTIME=runc."
    )
    assert not SandboxSession.objects.exists()

    settings.TURNBOX_SANDBOX_NETWORK_RUNTIME = "runc"
    api = docker_client().api
    code = FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])"
    with open_session(purpose="test", network=policy) as s:
        events, status = run(s.python(code))
        networked = api.inspect_container(s.sandbox.name)["HostConfig"]["Runtime"]
        assert s.record.runtime == "runc"
    with open_session(purpose="test") as s:
        _, isolated_status = run(s.python("1"))
        isolated = api.inspect_container(s.sandbox.name)["HostConfig"]["Runtime"]
        assert s.record.runtime == "runsc"
    assert (networked, status["status"], stdout(events)) == ("runc", "ok", f"{HELLO}\n")
    assert (isolated, isolated_status["status"]) == ("runsc", "ok")


def test_the_network_pool_follows_the_operators_network_runtime(settings, gvisor_without_network):
    settings.TURNBOX_SANDBOX_POOL_SIZE = 1
    settings.TURNBOX_EGRESS_POOL_SIZE = 1
    settings.TURNBOX_SANDBOX_RUNTIME = "runsc"
    settings.TURNBOX_SANDBOX_NETWORK_RUNTIME = ""
    pool.shutdown()
    try:
        assert pool.egress_pool() is None, "no pool of sandboxes that no session may take"
        settings.TURNBOX_SANDBOX_NETWORK_RUNTIME = "runc"
        network_pool = pool.egress_pool()
        assert (network_pool.spec.runtime, network_pool.spec.egress) == ("runc", True)
    finally:
        pool.shutdown()


def test_the_network_pool_serves_network_sessions_warm(lab, settings):
    settings.TURNBOX_SANDBOX_POOL_SIZE = 1
    settings.TURNBOX_EGRESS_POOL_SIZE = 1
    network_pool = pool.egress_pool()
    network_pool.start()
    try:
        assert network_pool.wait_full(timeout=60)
        waiting = set(network_pool.waiting())
        policy = allowlist(f"allowed.turnbox.test:{PORT}")
        code = FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])\n"
        code += f"print(fetch('http://other.turnbox.test:{PORT}/')[0])"
        with open_session(purpose="test", network=policy) as s:
            assert s.sandbox.name in waiting
            events, _ = run(s.python(code))
    finally:
        pool.shutdown()
    reached, refused = stdout(events).splitlines()
    assert reached == HELLO
    assert refused.startswith("HTTP 403")


# -- the proxy -----------------------------------------------------------------------------
def test_the_proxys_own_firewall_refuses_private_addresses(lab):
    """Squid checks a name's addresses; the kernel refuses them again, in case it is fooled
    (a name that answers otherwise a moment later)."""
    probe = (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print(type(error).__name__)\n"
    )
    api = docker_client().api

    def attempt(host: str, port: int) -> str:
        # As Squid runs: the proxy user.
        command = ["python3", "-c", probe, host, str(port)]
        exec_id = api.exec_create(lab.proxy, command, user="proxy")
        return api.exec_start(exec_id).decode().strip()

    assert attempt("169.254.169.254", 80) == "ConnectionRefusedError"
    assert attempt("10.1.2.3", 443) == "ConnectionRefusedError"
    # DNS is open to the container's resolvers only, not to port 53 anywhere.
    assert attempt("10.1.2.3", 53) == "ConnectionRefusedError"
    assert attempt(lab.server_ip, PORT) == "connected"


def test_a_firewall_rule_that_fails_stops_the_proxy_from_starting(
    docker_engine, egress_proxy_image
):
    """A proxy missing one rule would run with less protection than promised. The bad
    entry comes before a good one: the last rule holding must not hide it."""
    container = docker_engine.containers.run(
        egress_proxy_image,
        detach=True,
        runtime="runc",
        network_disabled=True,
        cap_drop=["ALL"],
        cap_add=["NET_ADMIN", "SETUID", "SETGID", "CHOWN"],
        environment={"TURNBOX_EGRESS_REFUSE": "10.0.0.0/99,192.88.99.0/24"},
    )
    try:
        status = container.wait(timeout=30)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert status == 1, logs
    assert "could not set up the firewall" in logs and "10.0.0.0/99" in logs


def test_the_proxy_refuses_one_sandboxs_address_to_another_whatever_their_range(lab):
    api = docker_client().api
    built_in = [ipaddress.ip_network(n) for n in egress_refused._listed_networks()]
    subnets = ipaddress.ip_network(SANDBOX_SUBNETS)
    assert not any(subnets.overlaps(network) for network in built_in), "the lab's own range"
    serve = (
        "import http.server, threading\n"
        "server = http.server.HTTPServer(('', 8000), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
    )
    with open_session(purpose="test", network=NetworkPolicy.open()) as victim:
        assert run(victim.python(serve))[1]["status"] == "ok"
        itself = "curl -sS -o /dev/null -w '%{http_code}' --noproxy '*' localhost:8000"
        assert stdout(run(victim.shell(itself))[0]) == "200"
        networks = api.inspect_container(victim.sandbox.name)["NetworkSettings"]["Networks"]
        address = networks[victim.sandbox.name]["IPAddress"]
        assert ipaddress.ip_address(address) in subnets
        with open_session(purpose="test", network=NetworkPolicy.open()) as s:
            events, _status = run(s.python(FETCH + f"print(fetch('http://{address}:8000/')[0])"))
    assert "private and internal addresses are never reachable" in stdout(events)
    assert [(e["host"], e["port"], e["reason"]) for e in blocked(events)] == [
        (address, 8000, "private")
    ]


def test_the_proxy_refuses_this_hosts_own_address(lab):
    # The address this host goes out from (nothing is sent: UDP only picks a route).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.80", 443))
        own = ipaddress.ip_address(probe.getsockname()[0])
    if any(own in ipaddress.ip_network(n) for n in egress_refused._listed_networks()):
        pytest.skip(f"This host's address {own} is in the built-in list, refused anyway.")
    exec_id = docker_client().api.exec_create(lab.proxy, ["cat", "/run/squid/refused-networks"])
    assert f"{own}/32" in docker_client().api.exec_start(exec_id).decode().split()
    with open_session(purpose="test", network=NetworkPolicy.open()) as s:
        events, _status = run(s.python(FETCH + f"print(fetch('http://{own}:{PORT}/')[0])"))
    assert "private and internal addresses are never reachable" in stdout(events)


def test_the_proxy_refuses_a_sandbox_too_many_connections_at_once(lab):
    code = (
        FETCH
        + f"""
import os, socket, time, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
held = [socket.create_connection((proxy.hostname, proxy.port)) for _ in range(60)]
print(fetch('http://allowed.turnbox.test:{PORT}/')[0])
for connection in held:
    connection.close()
time.sleep(0.5)
print(fetch('http://allowed.turnbox.test:{PORT}/')[0])
"""
    )
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, _status = run(s.python(code))
    refused, reached = stdout(events).splitlines()
    assert refused == (
        "HTTP 403: network access is refused for now: this sandbox has too many "
        "connections open at once (at most 60)"
    )
    assert reached == HELLO


def test_a_sandbox_cannot_hold_more_than_64_idle_connections_to_the_proxy(lab):
    """Squid counts a client's connections only when a request comes: idle ones would
    pile up until its file descriptors ran out. The proxy's firewall refuses them."""
    hold = """
import os, socket, time, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
held, refused, slowest = [], 0, 0.0
for _ in range(100):
    started = time.monotonic()
    try:
        held.append(socket.create_connection((proxy.hostname, proxy.port), timeout=10))
    except ConnectionRefusedError:
        refused += 1
        slowest = max(slowest, time.monotonic() - started)
print(len(held), refused, slowest)
"""
    url = f"http://allowed.turnbox.test:{PORT}/"
    policy = allowlist(f"allowed.turnbox.test:{PORT}")
    with open_session(purpose="test", network=policy) as flooding:
        events, _status = run(flooding.python(hold))
        with open_session(purpose="test", network=policy) as other:
            meanwhile = stdout(run(other.python(FETCH + f"print(fetch('{url}')[0])"))[0])
        run(flooding.python("for c in held: c.close()\ntime.sleep(0.5)"))
        after = stdout(run(flooding.python(FETCH + f"print(fetch('{url}')[0])"))[0])
    accepted, refused, slowest = stdout(events).split()
    assert (int(accepted), int(refused)) == (64, 36)
    assert float(slowest) < 1, "refused at once, not left to time out"
    assert meanwhile == after == f"{HELLO}\n"


def test_the_reaper_removes_the_network_of_a_dead_process(lab):
    client = docker_client()
    name = f"turnbox-sandbox-orphan{os.getpid()}"
    labels = {LABEL: "1", OWNER_LABEL: DEAD_OWNER, CREATED_LABEL: str(int(time.time()) - 3600)}
    links._create_network(client, name, labels)
    client.api.connect_container_to_network(lab.proxy, name)
    assert name in reaper.reap()
    with pytest.raises(NotFound):
        client.api.inspect_network(name)


def test_sandbox_run_tries_a_policy_from_the_command_line(lab):
    out, err = StringIO(), StringIO()
    code = FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])\n"
    code += f"_ = fetch('http://other.turnbox.test:{PORT}/')"
    call_command(
        "sandbox_run", "--allow", f"allowed.turnbox.test:{PORT}", "--code", code,
        stdout=out, stderr=err,
    )  # fmt: skip
    assert out.getvalue() == f"{HELLO}\n"
    message = f"Network access to other.turnbox.test:{PORT} is blocked by this workspace's policy."
    assert err.getvalue().count(message) == 1, "named once, in the execution's status line"
    assert SandboxSession.objects.get(purpose="sandbox_run").network["mode"] == "allowlist"


def test_the_proxy_image_is_tagged_by_its_recipe_and_holds_it(docker_engine, egress_proxy_image):
    assert egress_proxy_image == egress_image.image_tag()
    assert re.fullmatch(r"turnbox-egress:[0-9a-f]{16}", egress_proxy_image)
    for name in egress_image.APP_FILES:
        inside = docker_engine.containers.run(
            egress_proxy_image, ["cat", f"{egress_image.APP_DIR}/{name}"], remove=True,
            network_disabled=True,
        )  # fmt: skip
        assert inside.decode() == (egress_image.SOURCE_DIR / name).read_text()


# -- the proxy's own life ------------------------------------------------------------------
def test_the_proxy_serves_again_after_a_restart(lab):
    client = docker_client()
    restarted = time.time()
    client.api.restart(lab.proxy, timeout=5)
    egress_proxy._wait_ready(client, lab.proxy, since=restarted - 1)
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, _status = run(
            s.python(FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])")
        )
    assert stdout(events) == f"{HELLO}\n"
    assert egress_proxy.running_proxy(client).id == lab.proxy


def test_a_proxy_that_keeps_failing_is_replaced(docker_engine, egress_proxy_image, sandbox_image):
    client = docker_client()
    name = f"turnbox-egress-broken-{os.getpid()}"
    with override_settings(TURNBOX_EGRESS_PROXY=name):
        try:
            broken = client.containers.run(
                sandbox_image, ["sh", "-c", "exit 2"], name=name, detach=True,
                network_disabled=True, restart_policy={"Name": "always"},
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not client.api.inspect_container(broken.id)["State"]["Restarting"]:
                assert time.monotonic() < deadline, "the broken container never restarted"
                time.sleep(0.05)
            proxy = egress_proxy.running_proxy(client)
            details = client.api.inspect_container(name)
            assert proxy.id != broken.id
            assert details["Config"]["Image"] == egress_proxy_image
            assert details["State"]["Running"] and not details["State"]["Restarting"]
        finally:
            egress_proxy.remove_proxy(client=client)
