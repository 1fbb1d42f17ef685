"""The production stack, run for real (`make stack-check`, through scripts/stack_check.sh).

Builds the images (manage.py build_stack_images), brings platform/compose.yaml up as a
project of its own (PostgreSQL, Redis, migrate, two web replicas behind nginx with a
throw-away certificate, two Celery workers, the egress proxy; sandboxes on this host's
engine through compose.docker-socket.yaml), seeds the demo in a web container, then acts as
browsers do through nginx: logs in, opens Direct-mode conversations, runs code over
websockets (a conversation each), and as finance downloads the charges CSV, in which each
turn must be charged exactly once. Then the OpenAI path: the test model server
(scripts/llama_server.py, SmolLM2) started on this host's address on the stack's network,
an agent whose OpenAI-compatible connection points at it, and one turn through nginx that
must end answered. Without that server (scripts/llama.sh builds it once) the check fails
saying so. It always tears the project down, then checks that none of its containers,
networks, volumes or sandboxes is left. Exit status 0 when all of it holds; the figures
go to stdout as JSON.
"""

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import urllib3
from llama_server import LlamaUnavailable, llama_python, start_llama_server, stop_llama_server
from stack_client import (
    Browser,
    CheckFailed,
    run_model_turn,
    run_turn,
    wait_charged,
    write_certificate,
)

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = ROOT / "platform"
HEALTH_SECONDS = 300
CONVERSATIONS = 2
# The first socket waits this long before it sends: a quiet socket must stay open.
QUIET_SECONDS = 8
PASSWORD = secrets.token_urlsafe(12)
MODEL_AGENT = "Model answerer"
# Run in a web container, as the demo's seeding is: the agent of the OpenAI path.
MODEL_AGENT_CODE = """
from agents.models import Agent
from connections.services import connection_create
from workspaces.models import Workspace
workspace = Workspace.objects.get(slug="demo")
connection = connection_create(
    workspace=workspace, kind="openai", name="Test model server", secret="", base_url={url!r}
)
Agent.objects.create(
    workspace=workspace, name={name!r}, connection=connection, model="smollm2",
    instructions="Answer in one short sentence.", max_steps=2,
)
"""
# A worker stops once its pool processes have drained their warm sandboxes: slow on a
# loaded host, and a worker killed before that leaves them behind.
STOP_SECONDS = 300


def say(text: str) -> None:
    print(f"==> {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """One compose project of platform/compose.yaml, with its own files and names."""

    def __init__(self, workdir: Path, images: dict[str, str]) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.project = f"turnbox-stackcheck-{suffix}"
        self.egress = f"{self.project}-egress"
        self.port = free_port()
        self.workdir = workdir
        # Container hostname -> container name: sandboxes name their owner by hostname.
        self.seen_hosts: dict[str, str] = {}
        self.env = {**os.environ, **images, **self._compose_vars(workdir)}
        self.env.pop("DOCKER_HOST", None)
        self._write_app_env(workdir / "app.env")
        write_certificate(workdir / "tls")

    def _compose_vars(self, workdir: Path) -> dict[str, str]:
        return {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "TURNBOX_ENV_FILE": str(workdir / "app.env"),
            "TURNBOX_TLS_DIR": str(workdir / "tls"),
            "TURNBOX_HTTPS_PORT": str(self.port),
            "TURNBOX_HTTP_PORT": str(free_port()),
            "TURNBOX_DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        }

    def _write_app_env(self, path: Path) -> None:
        from cryptography.fernet import Fernet

        lines = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "TURNBOX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{self.port}",
            "TURNBOX_DEMO_PASSWORD": PASSWORD,
            # A proxy and subnets of its own: the host may run Turnbox's own already.
            "TURNBOX_EGRESS_PROXY": self.egress,
            "TURNBOX_EGRESS_SUBNETS": "10.239.0.0/16",
            # The test model server listens on this host's private address on the network.
            "TURNBOX_ALLOW_PRIVATE_BASE_URLS": "True",
        }
        path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))

    def compose(self, *args: str, check: bool = True, capture: bool = False) -> str:
        command = [*compose_command(), "-p", self.project, "-f", str(PLATFORM / "compose.yaml")]
        command += ["-f", str(PLATFORM / "compose.docker-socket.yaml"), *args]
        done = subprocess.run(  # noqa: S603
            command, cwd=PLATFORM, env=self.env, text=True, check=False,
            stdout=subprocess.PIPE if capture else sys.stderr, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if check and done.returncode:
            tail = (done.stdout or "")[-3000:]
            raise CheckFailed(f"{' '.join(args[:2])} failed (exit {done.returncode}) {tail}")
        return done.stdout or ""

    def up(self) -> None:
        say(f"Starting the stack {self.project} (two web, two workers), nginx on {self.port}")
        self.compose("up", "-d", "--no-build", "--scale", "web=2", "--scale", "worker=2")

    def containers(self) -> list[dict]:
        ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}")
        if not ids.split():
            return []
        return json.loads(docker("inspect", *ids.split()))

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_SECONDS
        while time.monotonic() < deadline:
            states = {c["Name"].lstrip("/"): _state(c) for c in self.containers()}
            self.remember_hosts()
            settled = all(s in ("healthy", "running", "exited 0") for s in states.values())
            if states and settled and _answers(f"https://127.0.0.1:{self.port}/login/"):
                return
            if failed := {
                n: s for n, s in states.items() if s.startswith("exited") and s != "exited 0"
            }:
                raise CheckFailed(f"Containers stopped: {failed}")
            time.sleep(2)
        raise CheckFailed(f"The stack was not healthy within {HEALTH_SECONDS} s: {states}")

    def gateway(self) -> str:
        """This host's address on the project's network: where its containers reach it."""
        label = f"label=com.docker.compose.project={self.project}"
        network = docker("network", "ls", "-q", "--filter", label).split()[0]
        return docker(
            "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network
        ).strip()

    def logs(self) -> None:
        self.compose("logs", "--no-color", "--tail", "60", check=False)

    def down(self) -> float:
        """Tears the project down; returns how long its containers took to stop."""
        say("Tearing the stack down")
        # The egress service starts the proxy again whenever it is gone: stop it first.
        self.compose("stop", "egress", check=False)
        self.compose("run", "--rm", "--no-deps", "egress", "python", "manage.py",
                     "egress_proxy", "--stop", check=False)  # fmt: skip
        started = time.monotonic()
        self.compose("stop", "--timeout", str(STOP_SECONDS), check=False)
        stopped = time.monotonic() - started
        if self.sandboxes():
            # What the workers did as they stopped: gone once the project is down.
            self.compose("logs", "--no-color", "-t", "--tail", "80", "worker", check=False)
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "90", check=False)
        return round(stopped, 1)

    def remove_sandboxes(self) -> list[str]:
        """Sandboxes the stack's processes left behind: what the reaper of another host
        would remove only once they are old. Removed, and reported as a failure."""
        names = self.sandboxes()
        for name in (label.split()[0] for label in names):
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)  # noqa: S603, S607
            subprocess.run(["docker", "volume", "rm", name], capture_output=True, check=False)  # noqa: S603, S607
        return names

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        found = [f"container {c}" for c in docker("ps", "-aq", "--filter", label).split()]
        found += [f"network {n}" for n in docker("network", "ls", "-q", "--filter", label).split()]
        found += [f"volume {v}" for v in docker("volume", "ls", "-q", "--filter", label).split()]
        names = docker("ps", "-a", "--format", "{{.Names}}").split()
        found += [f"container {n}" for n in names if n.startswith(self.egress)]
        networks = docker("network", "ls", "--format", "{{.Name}}").split()
        found += [f"network {n}" for n in networks if n.startswith(self.egress)]
        volumes = docker("volume", "ls", "--format", "{{.Name}}").split()
        found += [f"volume {v}" for v in volumes if v.startswith(self.egress)]
        return found + [f"sandbox {s}" for s in self.sandboxes()]

    def sandboxes(self) -> list[str]:
        """Sandbox containers whose owner is a process in one of this stack's containers."""
        lines = docker("ps", "-a", "--filter", "label=turnbox.sandbox",
                       "--format", '{{.Names}} {{.Label "turnbox.owner"}}')  # fmt: skip
        owned = [line.split() for line in lines.splitlines() if len(line.split()) == 2]
        return [
            f"{name} (of {self.seen_hosts[owner.split('/')[0]]})"
            for name, owner in owned
            if owner.split("/")[0] in self.seen_hosts
        ]

    def remember_hosts(self) -> None:
        for container in self.containers():
            self.seen_hosts[container["Config"]["Hostname"]] = container["Name"].lstrip("/")


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)  # noqa: S603, S607
    return done.stdout


def _state(container: dict) -> str:
    state = container["State"]
    if state["Status"] == "exited":
        return f"exited {state['ExitCode']}"
    return state.get("Health", {}).get("Status") or state["Status"]


def _answers(url: str) -> bool:
    try:
        with requests.Session() as http:
            http.trust_env = False
            return http.get(url, verify=False, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def drive(stack: Stack) -> dict:
    base = f"https://127.0.0.1:{stack.port}"
    say("Seeding the demo in a web container")
    stack.compose("exec", "-T", "--index=1", "web", "python", "manage.py", "seed_demo")
    say(f"Running {CONVERSATIONS} turns through nginx over websockets")
    started = time.monotonic()
    results = run_turns(Browser(base, "member@example.com", PASSWORD))
    turns_seconds = time.monotonic() - started
    finance = Browser(base, "finance@example.com", PASSWORD)
    rows = wait_charged(finance, "demo", [r["turn"] for r in results])
    stack.remember_hosts()
    return {"turns": results, "turns_seconds": round(turns_seconds, 1), "charges": rows}


def run_turns(member: Browser) -> list[dict]:
    """A Direct-mode turn in each of CONVERSATIONS conversations, the first socket quiet."""
    conversations, results = [], []
    for i in range(CONVERSATIONS):
        # Opened once the previous one has a turn: "new" hands back a person's empty one.
        conversations.append(member.new_conversation("demo", "Code runner"))
        quiet = QUIET_SECONDS if not i else 0
        turn = run_turn(member.base, member, "demo", conversations[-1], quiet=quiet)
        results.append(asyncio.run(turn))
    if len(set(conversations)) != CONVERSATIONS:
        raise CheckFailed(f"The turns did not get a conversation each: {conversations}")
    return results


def drive_model(stack: Stack) -> dict:
    """The OpenAI path: one turn of an agent whose connection is the test model server."""
    say("Starting the test model server on the stack's network")
    server = start_llama_server(host=stack.gateway())
    try:
        code = MODEL_AGENT_CODE.format(url=server.url, name=MODEL_AGENT)
        stack.compose("exec", "-T", "--index=1", "web", "python", "manage.py", "shell", "-c", code)
        member = Browser(f"https://127.0.0.1:{stack.port}", "member@example.com", PASSWORD)
        conversation = member.new_conversation("demo", MODEL_AGENT)
        say(f"Running a turn of {MODEL_AGENT} ({server.url}) through nginx")
        return asyncio.run(run_model_turn(member.base, member, "demo", conversation))
    except (CheckFailed, TimeoutError) as error:
        log = server.log_text()[-1500:]
        raise CheckFailed(f"{error!r}\nThe model server's log ends:\n{log}") from error
    finally:
        stop_llama_server(server)


def main() -> int:
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    started = time.monotonic()
    try:
        llama_python()
    except LlamaUnavailable as error:
        print(json.dumps({"passed": False, "failure": str(error)}, indent=2))
        return 1
    say("Building the stack's images")
    built = subprocess.run(
        [sys.executable, "manage.py", "build_stack_images", "--tag", "turnbox:stack-check"],
        cwd=ROOT, capture_output=False, stdout=subprocess.PIPE, text=True, check=True,
    )  # fmt: skip
    images = dict(line.split("=", 1) for line in built.stdout.split())
    report: dict = {"images": images}
    workdir = Path(tempfile.mkdtemp(prefix="turnbox-stack-check-"))
    stack = Stack(workdir, images)
    status = 1
    try:
        stack.up()
        stack.wait_healthy()
        report["up_seconds"] = round(time.monotonic() - started, 1)
        report |= drive(stack)
        report["model_turn"] = drive_model(stack)
        status = 0
    except (
        CheckFailed,
        LlamaUnavailable,
        subprocess.CalledProcessError,
        TimeoutError,
        OSError,
    ) as error:
        report["failure"] = str(error)
        stack.logs()
    finally:
        report["stop_seconds"] = stack.down()
        shutil.rmtree(workdir, ignore_errors=True)
    if left := stack.remove_sandboxes():
        report["sandboxes_left_by_stopped_processes"] = left
        status = 1
    if leftovers := stack.leftovers():
        report["leftovers"] = leftovers
        status = 1
    report["seconds"] = round(time.monotonic() - started, 1)
    report["passed"] = status == 0
    print(json.dumps(report, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
