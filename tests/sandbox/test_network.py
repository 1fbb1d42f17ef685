"""Network egress against a real Docker engine and a real Squid proxy.

The module starts a proxy of its own (not the one `make run` keeps) whose outbound
network is a random /28 of TEST-NET-2 (198.51.100.0/24). A small HTTP server on that
network stands for a host on the Internet: documentation addresses are not among the
refused networks (platform/egress/refused-networks), so the proxy treats it as public.
The proxy's hosts file gives the test names their addresses: allowed.turnbox.test and
other.turnbox.test are that server, internal.turnbox.test is the proxy's own loopback
(where Squid itself listens) and metadata.turnbox.test the cloud metadata address.
Nothing leaves the machine except pip's requests to the package index.
"""

import contextlib
import ipaddress
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

from sandbox import egress, egress_image, pool, reaper
from sandbox.containers import (
    CREATED_LABEL,
    LABEL,
    OWNER_LABEL,
    SandboxUnavailable,
    docker_client,
)
from sandbox.models import Execution, NetworkAttempt, SandboxSession
from sandbox.network import NetworkPolicy
from sandbox.selectors import network_attempts, workspace_network_policy
from sandbox.services import sandbox_network_policy_set
from sandbox.session import open_session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]

TEST_NET_2 = ipaddress.ip_network("198.51.100.0/24")
PORT = 8080
HELLO = "hello from the test server"
SERVER = f"""
import http.server
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{HELLO}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("0.0.0.0", {PORT}), Hello)
print("ready", flush=True)
server.serve_forever()
"""
DEAD_OWNER = f"{socket.gethostname()}/999999999/1"


@dataclass(frozen=True)
class Lab:
    proxy: str
    server_ip: str


@pytest.fixture(scope="module")
def lab(docker_engine, sandbox_image, egress_proxy_image):
    name = f"turnbox-egress-test-{os.getpid()}"
    override = override_settings(TURNBOX_EGRESS_PROXY=name)
    override.enable()
    client = docker_client()
    server = f"{name}-server"
    try:
        subnet = _outbound_network(client, f"{name}-out")
        server_ip = str(subnet[5])
        _start_server(client, server, f"{name}-out", server_ip, sandbox_image)
        hosts = {
            "allowed.turnbox.test": server_ip,
            "other.turnbox.test": server_ip,
            "internal.turnbox.test": "127.0.0.1",
            "metadata.turnbox.test": "169.254.169.254",
        }
        proxy = egress.ensure_proxy(client=client, extra_hosts=hosts)
        yield Lab(proxy=proxy.id, server_ip=server_ip)
    finally:
        with contextlib.suppress(NotFound):
            client.api.remove_container(server, force=True)
        egress.remove_proxy(client=client)
        override.disable()


def _outbound_network(client, name: str):
    for _ in range(20):
        subnet = random.choice(list(TEST_NET_2.subnets(new_prefix=28)))
        try:
            client.api.create_network(
                name, driver="bridge", labels={egress.LABEL: "1"}, check_duplicate=True,
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
            )  # fmt: skip
        except APIError as error:
            if "overlap" in str(error).lower():
                continue  # another test run on this engine has that one
            raise
        return subnet
    pytest.fail("No free /28 in TEST-NET-2 for the test proxy's network.")


def _start_server(client, name: str, network: str, address: str, image: str) -> None:
    networking = client.api.create_networking_config(
        {network: client.api.create_endpoint_config(ipv4_address=address)}
    )
    container = client.api.create_container(
        image,
        command=["/opt/python/bin/python", "-c", SERVER],
        name=name,
        user="1000:1000",
        host_config=client.api.create_host_config(network_mode=network, read_only=True),
        networking_config=networking,
    )
    client.api.start(container)
    deadline = time.monotonic() + 30
    while b"ready" not in client.api.logs(container):
        if time.monotonic() > deadline:
            pytest.fail("The test HTTP server did not start.")
        time.sleep(0.1)


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
try:
    socket.getaddrinfo("allowed.turnbox.test", {PORT})
    print("resolved")
except OSError as error:
    print("no name:", error)
"""
    )
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, _status = run(s.python(code))
    server, internet, name = stdout(events).splitlines()
    for line in (server, internet):
        assert line.startswith("failed:"), line
        assert float(line.split()[-1]) < 10
    assert name.startswith("no name:")


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


def test_pip_install_works_with_the_python_packages_preset(lab):
    policy = NetworkPolicy.allowlist(presets=["python-packages"])
    with open_session(purpose="test", network=policy) as s:
        _, installed = run(s.shell("pip install six"))
        events, imported = run(s.python("import six; print(six.__file__)"))
    assert installed["status"] == "ok", installed
    assert imported["status"] == "ok"
    assert stdout(events).startswith(f"{egress.PACKAGES_DIR}/six.py")


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


def test_gvisor_sessions_cannot_have_a_network(lab):
    with pytest.raises(SandboxUnavailable, match="not available under gVisor"):
        open_session(purpose="test", runtime="runsc", network=allowlist("pypi.org")).__enter__()
    assert not SandboxSession.objects.filter(runtime="runsc").exists()


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
        exec_id = api.exec_create(lab.proxy, ["python3", "-c", probe, host, str(port)])
        return api.exec_start(exec_id).decode().strip()

    assert attempt("169.254.169.254", 80) == "ConnectionRefusedError"
    assert attempt("10.1.2.3", 443) == "ConnectionRefusedError"
    assert attempt(lab.server_ip, PORT) == "connected"


def test_the_reaper_removes_the_network_of_a_dead_process(lab):
    client = docker_client()
    name = f"turnbox-sandbox-orphan{os.getpid()}"
    labels = {LABEL: "1", OWNER_LABEL: DEAD_OWNER, CREATED_LABEL: str(int(time.time()) - 3600)}
    egress._create_network(client, name, labels)
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
    message = f"network access to other.turnbox.test:{PORT} is blocked by this workspace's policy"
    assert f"[{message}]" in err.getvalue()
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
    egress._wait_ready(client, lab.proxy, since=restarted - 1)
    with open_session(purpose="test", network=allowlist(f"allowed.turnbox.test:{PORT}")) as s:
        events, _status = run(
            s.python(FETCH + f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])")
        )
    assert stdout(events) == f"{HELLO}\n"
    assert egress.running_proxy(client).id == lab.proxy


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
            proxy = egress.running_proxy(client)
            details = client.api.inspect_container(name)
            assert proxy.id != broken.id
            assert details["Config"]["Image"] == egress_proxy_image
            assert details["State"]["Running"] and not details["State"]["Restarting"]
        finally:
            egress.remove_proxy(client=client)
