"""stream_bench: how long a line printed in a sandbox takes to reach a browser.

It runs the app as users run it: a Daphne server in its own process on the embedded
default (a throw-away data folder: SQLite, in-memory channel layer, local Docker), a
Direct-mode conversation, and a websocket client outside the server. Code in the
sandbox prints the wall-clock time; the client subtracts it from the time each line
arrives. Container and host share one clock, so no offset has to be estimated.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import websockets
from django.conf import settings

from config.benchmarks import summary

BENCH_EMAIL = "stream-bench@example.invalid"
START_SECONDS = 60


class BenchError(RuntimeError):
    pass


def run(*, prints: int, interval_ms: int, progress=lambda text: None) -> dict:
    with _data_dir() as data_dir:
        env = _server_env(data_dir)
        progress("preparing a throw-away database")
        _manage(env, "migrate", "--verbosity", "0")
        target = json.loads(_manage(env, "stream_bench", "--prepare"))
        port = free_port()
        progress(f"starting Daphne on 127.0.0.1:{port}")
        with _daphne(env, port):
            progress(f"printing {prints} lines, one every {interval_ms} ms")
            url = f"ws://127.0.0.1:{port}{target['path']}"
            measuring = _measure(url, target["cookie"], prints, interval_ms)
            latencies = _run_in_own_loop(measuring)
    return {"prints": prints, "interval_ms": interval_ms, "latency_ms": summary(latencies)}


def _run_in_own_loop(coroutine):
    # In a thread of its own: the caller may already run an event loop in this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def prepare() -> dict:
    """In the server's database: a person, a Direct-mode agent, a conversation, a login."""
    from agents.models import Agent, Conversation
    from billing.services import credit_grant
    from connections.services import connection_create, pixelml_key_issue
    from workspaces.models import Membership, User, Workspace

    if not (settings.DATA_DIR / _MARKER).exists():
        # The bench fills only the throw-away database it made, never a real one.
        raise BenchError("--prepare runs only inside the bench's own throw-away data folder.")
    user = User.objects.create_user(BENCH_EMAIL, None)
    workspace = Workspace.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=user, workspace=workspace, role="member")
    _, key = pixelml_key_issue(name="Bench account")
    connection_create(workspace=workspace, kind="pixelml", name="PixelML", secret=key)
    credit_grant(workspace=workspace, amount=Decimal(3600), reason="Benchmark", granted_by=None)
    agent = Agent.objects.create(workspace=workspace, name="Bench", code_execution=True)
    conversation = Conversation.objects.create(workspace=workspace, agent=agent, user=user)
    path = f"/ws/w/bench/conversations/{conversation.pk}/"
    return {"cookie": login_cookie(user), "path": path}


def login_cookie(user) -> str:
    """A Cookie header value that logs ``user`` in, for a client outside the server."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


async def _measure(url: str, cookie: str, prints: int, interval_ms: int) -> list[float]:
    code = (
        "import time\n"
        f"for _ in range({prints}):\n"
        "    print(repr(time.time()), flush=True)\n"
        f"    time.sleep({interval_ms / 1000})\n"
    )
    headers = {"Cookie": cookie}
    # The page's own origin: scheme, host and port of the server the socket goes to.
    origin = "http" + url.removeprefix("ws").split("/ws/", 1)[0]
    async with websockets.connect(url, additional_headers=headers, origin=origin) as ws:
        await ws.send(json.dumps({"type": "send", "text": f"```python\n{code}```"}))
        return await _collect(ws)


async def _collect(ws) -> list[float]:
    latencies: list[float] = []
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
        arrived = time.time()
        if event["type"] == "stdout":
            latencies += [(arrived - float(line)) * 1000 for line in event["text"].split()]
        elif event["type"] == "turn_finished":
            if event["status"] != "answered":
                raise BenchError(f"The turn ended {event['status']}: {event['message']}")
            return latencies


def _server_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_EMBEDDED}
    env.update(TURNBOX_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    return env


_MARKER = ".stream-bench"

# Settings that would take the server off the embedded default.
_NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TURNBOX_TURN_RUNNER")


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"manage.py {args[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def _data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="turnbox-stream-bench-"))
    (path / _MARKER).touch()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _daphne(env: dict, port: int) -> Iterator[None]:
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(  # noqa: S603
        [*command, "config.asgi:application"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(server, port)
        yield
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_listening(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"Daphne exited:\n{server.stderr.read().decode()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"Daphne did not listen on port {port} within {START_SECONDS} s.")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def table(report: dict) -> str:
    latency = report["latency_ms"]
    return "\n".join(
        [
            "print in the sandbox -> websocket client, embedded default (Daphne, in-memory "
            "channel layer)",
            f"  lines measured : {latency['count']} (one every {report['interval_ms']} ms)",
            f"  p50            : {latency['p50']} ms",
            f"  p95            : {latency['p95']} ms",
            f"  min / max      : {latency['min']} / {latency['max']} ms",
        ]
    )
