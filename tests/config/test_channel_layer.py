"""The Redis channel layer as settings configure it, against a real Redis: a socket that
hears nothing for a while keeps waiting instead of failing."""

import os

import pytest

from tests.config.test_settings import run_manage

# Longer than the layer's blocking pop (5 s) and redis-py's default read timeout (5 s).
QUIET_SECONDS = 8
WAIT_QUIETLY = f"""
import asyncio
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    try:
        await asyncio.wait_for(layer.receive(channel), {QUIET_SECONDS})
    except asyncio.TimeoutError:
        print("still waiting")

asyncio.run(main())
"""


def test_a_quiet_socket_outlasts_the_blocking_pop(tmp_path):
    url = os.environ.get("TURNBOX_TEST_REDIS_URL", "")
    if not url:
        pytest.fail("TURNBOX_TEST_REDIS_URL is not set: run the README's test command.")

    done = run_manage(tmp_path, "shell", "-c", WAIT_QUIETLY, REDIS_URL=url)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "still waiting"
