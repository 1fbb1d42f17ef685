"""A Redis restart in the middle of a turn, against a real redis-server of the test's own
(killed and started again on the same port): the turn answers, its output is recorded
whole, and the open sockets stay open, re-sync and hear the rest of the turn."""

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from channels.layers import channel_layers

from agents.models import Turn
from tests.agents.test_consumers import communicator
from tests.conftest import free_port, run_in_new_loop

pytestmark = pytest.mark.usefixtures("transactional_db", "sandbox_image")

DOWN_SECONDS = 2
LINES, EVERY = 24, 0.25
PRINTING = (
    "```python\nimport time\n"
    f"for k in range({LINES}):\n    print(k, flush=True)\n    time.sleep({EVERY})\n```"
)


@dataclass
class Redis:
    """A redis-server that can be killed and started again on the same port."""

    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed: run the README's test command.")
        command = [server, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--dir", str(self.folder), "--save", "", "--appendonly", "no"]
        log = (self.folder / "log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("The test's redis-server did not start.")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self, down_seconds: float) -> None:
        """Gone with all it held (groups too), back on the same port."""
        self.kill()
        time.sleep(down_seconds)
        self.start()


@pytest.fixture
def redis_layer(settings, tmp_path) -> Iterator[Redis]:
    """A private Redis as this process's channel layer, configured as production is."""
    redis = Redis(tmp_path, free_port())
    redis.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": 15}]},
        }
    }
    channel_layers.backends.clear()
    try:
        yield redis
    finally:
        channel_layers.backends.clear()
        redis.kill()


async def follow(socket, into: list, timeout: float = 60) -> None:
    """Every event until the turn's ending, with its arrival time; a socket that closes
    fails the test (receive_json_from expects a message, not a close)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await socket.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        into.append((time.monotonic(), event))
        if event["type"] == "turn_finished":
            return


def test_a_turn_answers_through_a_redis_restart_and_its_sockets_resync(conversation, redis_layer):
    seen: list[list] = [[], []]

    async def chat():
        sockets = [communicator(conversation, conversation.user) for _ in seen]
        for each in sockets:
            assert (await each.connect(timeout=10))[0]
        await sockets[0].send_json_to({"type": "send", "text": PRINTING})
        following = [
            asyncio.ensure_future(follow(s, into)) for s, into in zip(sockets, seen, strict=True)
        ]
        while not any(e["type"] == "stdout" for _, e in seen[1]):
            await asyncio.sleep(0.05)
        await asyncio.to_thread(redis_layer.restart, DOWN_SECONDS)
        back = time.monotonic()
        await asyncio.gather(*following)
        for each in sockets:
            await each.disconnect()
        return back

    back = run_in_new_loop(chat())

    turn = Turn.objects.get(conversation=conversation)
    assert turn.status == Turn.Status.ANSWERED
    recorded = "".join(e["text"] for e in turn.tool_calls.get().output if e["type"] == "stdout")
    assert recorded.split() == [str(k) for k in range(LINES)], "nothing recorded is lost"
    for events in seen:
        types = [e["type"] for _, e in events]
        assert "resync" in types, "each socket is told to re-sync"
        assert types[-1] == "turn_finished" and events[-1][1]["status"] == "answered"
        later = [e for at, e in events if at > back and e["type"] == "stdout"]
        assert later, "the turn's later output reaches the socket live"
