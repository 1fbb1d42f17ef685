"""Turns in the Daphne process: a server that shuts down ends its turns cleanly."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import websockets
from django.conf import settings

from agents.bench import _free_port, _wait_listening
from agents.models import Turn
from sandbox.models import SandboxSession
from tests.conftest import run_in_new_loop
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")

LONG_LOOP = (
    "```python\nimport time\nfor i in range(1000):\n    print(i, flush=True)\n"
    "    time.sleep(0.05)\n```"
)


def database_url() -> str:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user, password = database.get("USER", ""), database.get("PASSWORD", "")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = database.get("HOST") or "localhost"
    return f"postgres://{auth}{host}:{database.get('PORT') or 5432}/{database['NAME']}"


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


@pytest.fixture
def daphne():
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=database_url(), TURNBOX_SANDBOX_POOL_SIZE="0")
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        env=env,
        cwd=settings.BASE_DIR,
        stderr=subprocess.PIPE,
    )
    _wait_listening(server, port)
    yield server, port
    if server.poll() is None:
        server.kill()
        server.wait()


def test_a_server_shutdown_interrupts_the_running_turn_and_removes_its_sandbox(
    conversation, daphne
):
    server, port = daphne
    url = (
        f"ws://127.0.0.1:{port}/ws/w/{conversation.workspace.slug}/conversations/{conversation.pk}/"
    )

    headers = {"Cookie": session_cookie(conversation.user)}

    async def start_turn() -> str:
        async with websockets.connect(
            url, additional_headers=headers, origin="http://127.0.0.1"
        ) as ws:
            await ws.send(json.dumps({"type": "send", "text": LONG_LOOP}))
            while (event := json.loads(await asyncio.wait_for(ws.recv(), 20)))["type"] != "stdout":
                pass
            server.send_signal(signal.SIGTERM)
            return event["turn"]

    turn_id = run_in_new_loop(start_turn())
    started = time.monotonic()
    assert server.wait(30) is not None
    shutdown_seconds = time.monotonic() - started

    turn = Turn.objects.get(pk=turn_id)
    assert turn.status == Turn.Status.INTERRUPTED, server.stderr.read().decode()[-3000:]
    assert turn.error_message == "The server shut down during this turn."
    session = SandboxSession.objects.get(pk=turn.sandbox_session_id)
    assert session.status == SandboxSession.Status.CLOSED
    assert not container_exists(session.container_name)
    assert turn.tool_calls.get().status == "cancelled"
    assert shutdown_seconds < 15
