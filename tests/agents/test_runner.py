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

from agents.bench import free_port, login_cookie, wait_listening
from agents.models import Turn
from sandbox.models import SandboxSession
from tests.agents.test_consumers import LONG_LOOP
from tests.conftest import database_url, run_in_new_loop
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


@pytest.fixture
def daphne():
    port = free_port()
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
    wait_listening(server, port)
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

    headers = {"Cookie": login_cookie(conversation.user)}

    async def start_turn() -> str:
        async with websockets.connect(
            url, additional_headers=headers, origin=f"http://127.0.0.1:{port}"
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
