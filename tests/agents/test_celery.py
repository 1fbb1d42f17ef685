"""Turns in a Celery worker, as production runs them: a real worker process takes the turn
from a real Redis broker, runs its code in a real sandbox, and its events reach the
websocket through the Redis channel layer. The test command starts the Redis
(scripts/redis.sh); a missing one fails these tests instead of skipping them."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings

from agents.models import Turn
from config.celery import app as celery_app
from sandbox.image import configured_image
from tests.agents.test_consumers import LONG_LOOP, communicator, receive_until
from tests.conftest import database_url, run_in_new_loop
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("transactional_db", "sandbox_image")

READY_SECONDS = 30
STOP_SECONDS = 15


def redis_url() -> str:
    url = os.environ.get("TURNBOX_TEST_REDIS_URL", "")
    if not url:
        pytest.fail(
            "TURNBOX_TEST_REDIS_URL is not set: run the README's test command, which starts "
            "a throwaway Redis for these tests."
        )
    return url


def with_database(url: str, number: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number}"))


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    queue: str
    layer_url: str
    broker_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, start: int = 0) -> str:
        return self.log.read_text(errors="replace")[start:]


@contextmanager
def started_worker(folder: Path) -> Iterator[Worker]:
    """A worker process on a queue of its own, with the test process's database, keys and
    sandbox image. The solo pool runs tasks in the process itself, so the sandboxes it
    opens carry its pid."""
    base = redis_url()
    number = int(urlsplit(base).path.strip("/") or 0)
    layer_url, broker_url = base, with_database(base, number + 1)
    queue = f"turnbox-test-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=layer_url,
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=django_settings.SECRET_KEY,
        TURNBOX_ENCRYPTION_KEYS=",".join(django_settings.TURNBOX_ENCRYPTION_KEYS),
        TURNBOX_SANDBOX_IMAGE=configured_image(),
        TURNBOX_SANDBOX_RUNTIME=django_settings.TURNBOX_SANDBOX_RUNTIME,
        TURNBOX_SANDBOX_POOL_SIZE="0",
        TURNBOX_DRIVE_DIR=str(folder / "drive"),
        PYTHONUNBUFFERED="1",
    )
    log = folder / "worker.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={queue}",
        f"--hostname={queue}@%h",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(process, log, queue, layer_url, broker_url)
    try:
        deadline = time.monotonic() + READY_SECONDS
        while " ready." not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The Celery worker did not start:\n{worker.output()}")
            time.sleep(0.1)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"The Celery worker did not stop within {STOP_SECONDS} s:\n{worker.output()}")


@contextmanager
def turns_sent_to(worker: Worker, settings) -> Iterator[Worker]:
    """This process dispatches turns as Daphne does in production: to the broker, and
    listens to the Redis channel layer. Prints the worker's log when the test fails."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [worker.layer_url]},
        }
    }
    settings.TURNBOX_TURN_RUNNER = "celery"
    settings.CELERY_BROKER_URL = worker.broker_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # The Celery app read its settings once: point it at the worker's broker and queue.
    names = ("broker_url", "task_always_eager", "task_default_queue")
    saved = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(
        broker_url=worker.broker_url, task_always_eager=False, task_default_queue=worker.queue
    )
    celery_app.close()  # no producer pool connected to the old broker
    channel_layers.backends.clear()
    start = len(worker.output())
    try:
        yield worker
    finally:
        channel_layers.backends.clear()
        celery_app.conf.update(saved)
        celery_app.close()
        # Shown by pytest only for a failing test.
        print(f"--- Celery worker log ---\n{worker.output(start)}")


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory) -> Iterator[Worker]:
    with started_worker(tmp_path_factory.mktemp("celery-worker")) as worker:
        yield worker


@pytest.fixture
def celery_turns(celery_worker, settings) -> Iterator[Worker]:
    with turns_sent_to(celery_worker, settings):
        yield celery_worker
    assert celery_worker.process.poll() is None, "the Celery worker died"


def timed_until(socket, event_type: str, timeout: float = 30):
    """Like receive_until, with each event's arrival time (monotonic seconds)."""

    async def receive() -> list[tuple[float, dict]]:
        events = []
        while True:
            event = await socket.receive_json_from(timeout=timeout)
            events.append((time.monotonic(), event))
            if event["type"] == event_type:
                return events

    return receive()


def test_a_worker_runs_the_turn_and_its_events_reach_the_websocket(celery_turns, conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        code = "import time\nprint('one', flush=True)\ntime.sleep(0.5)\nprint('two')"
        await socket.send_json_to({"type": "send", "text": f"```python\n{code}\n```"})
        events = await timed_until(socket, "turn_finished")
        await socket.disconnect()
        return events

    timed = run_in_new_loop(chat())
    events = [event for _, event in timed]

    types = [e["type"] for e in events]
    assert types[0] == "turn_started"
    assert types.index("tool_started") < types.index("stdout") < types.index("tool_finished")
    assert types[-1] == "turn_finished" and events[-1]["status"] == "answered"
    stdout = [(at, e["text"]) for at, e in timed if e["type"] == "stdout"]
    assert [text for _, text in stdout] == ["one\n", "two\n"]
    assert stdout[1][0] - stdout[0][0] >= 0.3, "each print arrives as it happens"
    assert {e["turn"] for e in events} == {events[0]["turn"]}

    turn = Turn.objects.select_related("sandbox_session").get(pk=events[0]["turn"])
    assert turn.status == Turn.Status.ANSWERED
    session = turn.sandbox_session
    assert session.owner.split("/")[1] == str(celery_turns.pid), "the worker opened the sandbox"
    assert session.status == "closed"
    assert not container_exists(session.container_name)


def test_stop_from_the_websocket_stops_the_turn_in_the_worker(celery_turns, conversation):
    async def chat():
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "send", "text": LONG_LOOP})
        await receive_until(socket, "stdout", timeout=30)
        stopped_at = time.monotonic()
        await socket.send_json_to({"type": "stop"})
        events = await receive_until(socket, "turn_finished", timeout=10)
        await socket.disconnect()
        return events, time.monotonic() - stopped_at

    events, stop_seconds = run_in_new_loop(chat())

    assert events[-1]["status"] == "cancelled"
    assert stop_seconds < 5
    finished = [e for e in events if e["type"] == "tool_finished"]
    assert [e["status"] for e in finished] == ["cancelled"]
    turn = Turn.objects.select_related("sandbox_session").get(pk=events[-1]["turn"])
    assert turn.status == Turn.Status.CANCELLED
    session = turn.sandbox_session
    assert session.owner.split("/")[1] == str(celery_turns.pid)
    assert session.status == "closed"
    assert not container_exists(session.container_name)


def test_a_worker_told_to_stop_finishes_its_running_turn_first(
    django_db_setup, conversation, settings, tmp_path
):
    """A deploy stops workers with SIGTERM: the turn in hand ends as it would have, its
    sandbox removed, and only then does the worker exit."""

    async def chat(worker: Worker):
        socket = communicator(conversation, conversation.user)
        await socket.connect(timeout=10)
        code = "import time\nprint('one', flush=True)\ntime.sleep(2)\nprint('two')"
        await socket.send_json_to({"type": "send", "text": f"```python\n{code}\n```"})
        await receive_until(socket, "stdout", timeout=30)
        worker.process.send_signal(signal.SIGTERM)
        events = await receive_until(socket, "turn_finished", timeout=30)
        await socket.disconnect()
        return events

    with started_worker(tmp_path) as worker, turns_sent_to(worker, settings):
        events = run_in_new_loop(chat(worker))
        assert worker.process.wait(STOP_SECONDS) == 0

    assert events[-1]["status"] == "answered"
    assert [e["text"] for e in events if e["type"] == "stdout"] == ["two\n"]
    turn = Turn.objects.select_related("sandbox_session").get(pk=events[-1]["turn"])
    assert turn.status == Turn.Status.ANSWERED
    session = turn.sandbox_session
    assert session.owner.split("/")[1] == str(worker.pid)
    assert session.status == "closed"
    assert not container_exists(session.container_name)
