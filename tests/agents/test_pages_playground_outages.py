"""The playground through what goes wrong on the server side, in a real Chromium against
Daphne over a real Redis channel layer: a turn whose process died, ended by the reaper
of another process, and Redis restarted while a turn prints."""

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import expect

from agents.models import Turn
from agents.services import turns as services
from tests.agents.test_pages_playground import (  # noqa: F401 (fixtures)
    SANDBOX_START,
    asgi_login,
    direct_agent,
    open_conversation,
    send,
)
from tests.agents.test_services_turns import dead_owner
from tests.agents.test_socket_layer import redis_layer  # noqa: F401 (fixture)
from workspaces.models import User

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_image"),
]

LINES = 30
PRINTING = (
    "```python\nimport time\n"
    f"for k in range({LINES}):\n    print(f'line {{k}}', flush=True)\n    time.sleep(0.25)\n```"
)

# Counts the page's sockets and the resync events they hear.
WATCH_SOCKETS = """
window.__watch = { sockets: 0, resyncs: 0 };
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    window.__watch.sockets += 1;
    this.addEventListener("message", (message) => {
      if (JSON.parse(message.data).type === "resync") window.__watch.resyncs += 1;
    });
  }
};
"""


def reap_elsewhere() -> int:
    """The reaper as it runs, in a thread of its own (this one runs Playwright's loop)."""

    def reap() -> int:
        try:
            return services.turns_orphaned_end()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(reap).result()


# redis_layer first: Daphne's process is forked with the settings it makes.
def test_a_turn_the_reaper_ends_shows_as_ended_without_a_reload(
    redis_layer,  # noqa: F811
    asgi_page,
    asgi_login,  # noqa: F811
    direct_agent,  # noqa: F811
):
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    conversation = open_conversation(asgi_page, direct_agent, member)
    turn = services.turn_create(conversation=conversation, text="print('never ends')")
    services.turn_start(turn=turn)
    Turn.objects.filter(pk=turn.pk).update(runner=dead_owner())
    asgi_page.reload()
    expect(asgi_page.get_by_test_id("running")).to_have_text(re.compile(r"^Running… \d+ s$"))
    expect(asgi_page.get_by_test_id("connection")).to_have_attribute("data-state", "open")

    assert reap_elsewhere() == 1

    status = asgi_page.get_by_test_id("turn-status")
    expect(status).to_have_attribute("data-status", "interrupted")
    expect(status).to_contain_text(services.ORPHANED)
    expect(asgi_page.get_by_test_id("running")).to_be_hidden()
    expect(asgi_page.get_by_test_id("send")).to_be_enabled()


def test_a_redis_restart_mid_turn_leaves_the_page_whole(
    redis_layer,  # noqa: F811
    asgi_page,
    asgi_login,  # noqa: F811
    direct_agent,  # noqa: F811
):
    asgi_page.add_init_script(WATCH_SOCKETS)
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    open_conversation(asgi_page, direct_agent, member)
    send(asgi_page, PRINTING)
    output = asgi_page.get_by_test_id("tool-output")
    expect(output).to_contain_text("line 1", timeout=SANDBOX_START)

    redis_layer.restart(2)
    # Polled from here: the page's script policy refuses wait_for_function's evaluation.
    deadline = time.monotonic() + 30
    while asgi_page.evaluate("window.__watch.resyncs") == 0 and time.monotonic() < deadline:
        asgi_page.wait_for_timeout(50)
    # Re-synced mid-turn, the page keeps the output it showed (the running call's output
    # is recorded only when the call ends).
    asgi_page.wait_for_timeout(1000)  # time for the re-sync's page load
    running = asgi_page.get_by_test_id("running").is_visible()
    assert not running or "line 0" in output.inner_text()

    status = asgi_page.get_by_test_id("turn-status")
    expect(status).to_contain_text("Answered", timeout=60_000)
    # Lines printed while Redis was away come back with the recorded transcript.
    expect(output).to_contain_text("\n".join(f"line {k}" for k in range(LINES)))
    expect(asgi_page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    expect(asgi_page.get_by_test_id("send")).to_be_enabled()
    assert asgi_page.evaluate("window.__watch") == {"sockets": 1, "resyncs": 1}
