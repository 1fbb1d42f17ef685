"""The asyncio face of the session API: streaming, and closing on cancellation."""

import asyncio

import pytest
from django.db import connection

from sandbox.aio import open_session_async
from sandbox.models import Execution, SandboxSession
from tests.conftest import postgres_only, run_in_new_loop
from tests.sandbox.engine import container_exists

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sandbox_image")]


def test_events_arrive_while_the_code_runs():
    async def scenario():
        arrivals = []
        loop = asyncio.get_running_loop()
        async with open_session_async(purpose="test") as session:
            started = loop.time()
            code = "import time\nfor i in range(2):\n    print(i, flush=True)\n    time.sleep(1)"
            async for event in session.python(code):
                arrivals.append((event["type"], loop.time() - started))
        return arrivals

    arrivals = run_in_new_loop(scenario())
    assert [kind for kind, _ in arrivals] == ["stdout", "stdout", "status"]
    assert arrivals[0][1] < 1.0 < arrivals[1][1]


def test_cancelling_the_task_stops_the_code_and_removes_the_container():
    seen = {}

    async def turn():
        async with open_session_async(purpose="test") as session:
            seen["name"] = session.session.sandbox.name
            seen["record"] = session.record.pk
            async for event in session.python(
                "print('go', flush=True)\nimport time; time.sleep(60)"
            ):
                seen.setdefault("first", event)

    async def scenario():
        task = asyncio.create_task(turn())
        while "first" not in seen:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Closing is shielded from the cancellation; give its thread a moment to finish.
        for _ in range(100):
            if not container_exists(seen["name"]):
                break
            await asyncio.sleep(0.1)

    run_in_new_loop(scenario())
    assert not container_exists(seen["name"])
    record = SandboxSession.objects.get(pk=seen["record"])
    assert (record.status, record.end_reason) == ("closed", "cancelled")
    execution = Execution.objects.get(session=record)
    assert execution.status == "killed" and execution.duration_ms < 30_000


def test_an_exception_in_the_block_still_removes_the_container():
    seen = {}

    async def scenario():
        async with open_session_async(purpose="test") as session:
            seen["name"] = session.session.sandbox.name
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_in_new_loop(scenario())
    assert not container_exists(seen["name"])


@postgres_only
def test_worker_threads_give_their_database_connections_back():
    def connected() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    async def scenario():
        async with open_session_async(purpose="test") as session:
            async for _ in session.python("print(1)"):
                pass

    before = connected()
    run_in_new_loop(scenario())
    assert connected() == before
