"""The playground in a real Chromium against Daphne (HTTP and websockets) and real
sandboxes: a Direct-mode conversation of the demo member, live and after a reload."""

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from agents.models import Agent, Conversation, ToolCall, Turn
from portal.demo import demo_seed
from sandbox.models import SandboxSession
from tests.conftest import PASSWORD
from workspaces.models import User, Workspace

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sandbox_image"),
]

PRINT_SLEEP_PLOT = """```python
import time
import matplotlib.pyplot as plt

print("first line", flush=True)
time.sleep(3)
print("second line", flush=True)
plt.plot([1, 2, 3, 4], [3, 1, 4, 1])
plt.show()
```"""

LONG_LOOP = """```python
import time
for i in range(10_000):
    print(f"tick {i}", flush=True)
    time.sleep(0.2)
```"""

SANDBOX_START = 60_000  # ms: a cold container start on a busy machine


@pytest.fixture
def direct_agent(settings) -> Agent:
    """The demo's Direct-mode agent (no connection, code execution on)."""
    settings.DEMO_PASSWORD = PASSWORD
    demo_seed()
    workspace = Workspace.objects.get(slug="demo")
    agent = workspace.agents.filter(connection=None, code_execution=True).first()
    return agent or Agent.objects.create(workspace=workspace, name="Direct", code_execution=True)


@pytest.fixture
def asgi_login(asgi_page) -> Callable[[User], None]:
    def do_login(user: User, password: str = PASSWORD) -> None:
        asgi_page.goto("/login/")
        asgi_page.get_by_label("Email").fill(user.email)
        asgi_page.get_by_label("Password").fill(password)
        asgi_page.get_by_role("button", name="Log in").click()
        asgi_page.wait_for_selector("[data-testid=current-workspace]")

    return do_login


def send(page, text: str) -> None:
    box = page.get_by_test_id("message-input")
    box.fill(text)
    box.press("Enter")


def test_a_direct_turn_streams_output_plots_and_stops(asgi_page, asgi_login, direct_agent):
    page = asgi_page
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    page.get_by_role("link", name="Playground", exact=True).click()
    page.get_by_test_id("agent-picker").select_option(str(direct_agent.pk))
    page.get_by_test_id("new-conversation").click()
    conversation = Conversation.objects.get(user=member)
    expect(page).to_have_url(re.compile(f"/w/demo/playground/{conversation.pk}/$"))
    expect(page.get_by_test_id("send")).to_be_enabled()

    # Shift+Enter is a new line, not a send.
    box = page.get_by_test_id("message-input")
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    assert not Turn.objects.exists()

    send(page, PRINT_SLEEP_PLOT)

    running = page.get_by_test_id("running")
    expect(running).to_have_text(re.compile(r"^Running… \d+ s$"))
    expect(page.get_by_test_id("stop")).to_be_visible()
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(box).to_have_value("")
    output = page.get_by_test_id("tool-output").first
    expect(output).to_contain_text("first line", timeout=SANDBOX_START)
    # The first line is shown while the code still sleeps before printing the second.
    assert "second line" not in output.inner_text()
    expect(output).to_contain_text("second line")
    chart = output.get_by_test_id("chart")
    expect(chart).to_be_visible()
    assert chart.get_attribute("src").startswith("data:image/png;base64,")
    cell = page.get_by_test_id("tool-cell").first
    expect(cell.get_by_test_id("tool-status")).to_have_text(re.compile(r"^ok · \d+\.\d s$"))
    expect(cell.locator("code.hljs .hljs-keyword").first).to_be_visible()
    turn_status = page.get_by_test_id("turn-status").first
    expect(turn_status).to_have_text(re.compile(r"^Answered in \d+\.\d s$"))
    expect(page.get_by_test_id("assistant-text").last).to_contain_text("No LLM")
    expect(running).to_be_hidden()
    expect(page.get_by_test_id("stop")).to_be_hidden()
    expect(page.get_by_test_id("send")).to_be_enabled()
    finished_text = turn_status.inner_text()

    # A reload shows the same cells from the records.
    page.reload()
    cell = page.get_by_test_id("tool-cell").first
    expect(cell.get_by_test_id("tool-output")).to_have_text(re.compile(r"first line\s+second line"))
    expect(cell.get_by_test_id("chart")).to_be_visible()
    expect(cell.get_by_test_id("tool-status")).to_have_text(re.compile(r"^ok · \d+\.\d s$"))
    expect(cell.locator("code.hljs")).to_contain_text('print("first line", flush=True)')
    expect(page.get_by_test_id("turn-status").first).to_have_text(finished_text)
    expect(page.get_by_test_id("assistant-text").last).to_contain_text("No LLM")
    expect(page.get_by_test_id("turn-note")).to_have_count(1)
    expect(page.get_by_test_id("send")).to_be_enabled()

    # Stop ends a long loop; its sandbox goes away with it.
    send(page, LONG_LOOP)
    second = page.get_by_test_id("turn").nth(1)
    expect(second.get_by_test_id("turn-note")).to_contain_text("fresh sandbox")
    expect(second.get_by_test_id("tool-output")).to_contain_text("tick 3", timeout=SANDBOX_START)
    expect(running).to_have_text(re.compile(r"^Running… [1-9]\d* s$"))
    page.get_by_test_id("stop").click()
    expect(second.get_by_test_id("turn-status")).to_have_text("Stopped by you")
    expect(second.get_by_test_id("tool-status")).to_have_text(re.compile(r"^cancelled"))
    expect(running).to_be_hidden()
    expect(page.get_by_test_id("stop")).to_be_hidden()
    expect(page.get_by_test_id("send")).to_be_enabled()

    first_turn, stopped = Turn.objects.filter(conversation=conversation).order_by("index")
    assert first_turn.status == Turn.Status.ANSWERED
    assert stopped.status == Turn.Status.CANCELLED
    assert ToolCall.objects.get(turn=stopped).status == ToolCall.Status.CANCELLED
    session = SandboxSession.objects.get(pk=stopped.sandbox_session_id)
    assert session.closed_at is not None

    page.reload()
    expect(page.get_by_test_id("turn-status").nth(1)).to_have_text("Stopped by you")
    expect(page.get_by_test_id("tool-output").nth(1)).to_contain_text("tick 3")


# Keeps the page's websockets reachable from the test, to drop one on purpose.
TRACK_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


def open_conversation(page, agent: Agent, user: User) -> Conversation:
    conversation = Conversation.objects.create(workspace=agent.workspace, agent=agent, user=user)
    page.goto(f"/w/{agent.workspace.slug}/playground/{conversation.pk}/")
    expect(page.get_by_test_id("send")).to_be_enabled()
    return conversation


def test_a_second_tab_follows_a_running_turn_and_can_stop_it(asgi_page, asgi_login, direct_agent):
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    conversation = open_conversation(asgi_page, direct_agent, member)
    send(asgi_page, LONG_LOOP)
    expect(asgi_page.get_by_test_id("tool-output")).to_contain_text("tick 2", timeout=SANDBOX_START)

    other = asgi_page.context.new_page()
    other.goto(f"/w/demo/playground/{conversation.pk}/")

    expect(other.get_by_test_id("running")).to_have_text(re.compile(r"^Running… \d+ s$"))
    expect(other.get_by_test_id("send")).to_be_disabled()
    # The latest tick the first tab shows: the second follows from there on.
    seen = int(re.findall(r"tick (\d+)", asgi_page.get_by_test_id("tool-output").inner_text())[-1])
    expect(other.get_by_test_id("tool-output")).to_contain_text(f"tick {seen + 5}")
    other.get_by_test_id("stop").click()
    for tab in (other, asgi_page):
        expect(tab.get_by_test_id("turn-status")).to_have_text("Stopped by you")
        expect(tab.get_by_test_id("send")).to_be_enabled()
    assert Turn.objects.get(conversation=conversation).status == Turn.Status.CANCELLED


def test_it_reconnects_after_a_drop_and_shows_refused_requests(asgi_page, asgi_login, direct_agent):
    page = asgi_page
    page.add_init_script(TRACK_SOCKETS)
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    open_conversation(page, direct_agent, member)

    page.evaluate("window.__sockets[0].close()")

    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "reconnecting")
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    expect(page.get_by_test_id("send")).to_be_enabled()
    assert page.evaluate("window.__sockets.length") == 2

    page.evaluate("window.__sockets[1].send(JSON.stringify({type: 'bogus'}))")
    error = page.get_by_test_id("chat-error")
    expect(error).to_contain_text("Unknown request.")
    error.get_by_role("button", name="Dismiss").click()
    expect(error).to_have_count(0)

    send(page, "```python\nprint('<b>after</b> the drop')\n```")
    expect(page.get_by_test_id("tool-output")).to_have_text(
        "<b>after</b> the drop", timeout=SANDBOX_START
    )
    expect(page.get_by_test_id("turn-status")).to_contain_text("Answered")


@pytest.fixture
def watched_server() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server that records every path asked of it."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"seen")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], asked
    server.shutdown()
    thread.join()


def test_html_shown_by_code_loads_nothing_from_elsewhere(
    asgi_page, asgi_login, direct_agent, watched_server
):
    port, asked = watched_server
    base = f"http://127.0.0.1:{port}"
    html = (
        f'<p>Shown but sealed</p><img src="{base}/image.png?d=secret">'
        f'<div style="background: url({base}/background.png)">styled</div>'
        f'<link rel="stylesheet" href="{base}/sheet.css">'
        f'<meta http-equiv="refresh" content="0;url={base}/refresh">'
    )
    html += '<style>p { color: rgb(1, 2, 3) }</style><script>document.title = "ran"</script>'
    member = User.objects.get(email="member@example.com")
    violations = []
    asgi_page.on(
        "console",
        lambda m: (
            violations.append((m.location["url"], m.text))
            if "Content Security Policy" in m.text
            else None
        ),
    )
    asgi_login(member)
    open_conversation(asgi_page, direct_agent, member)

    send(asgi_page, f"```python\nfrom IPython.display import HTML\nHTML({html!r})\n```")

    frame = asgi_page.frame_locator("iframe.out-html")
    expect(frame.locator("p")).to_have_text("Shown but sealed", timeout=SANDBOX_START)
    expect(frame.locator("div")).to_have_text("styled")
    # Its own inline styles apply (the page's strict policy does not reach the frame),
    # and its scripts still do not run.
    expect(frame.locator("p")).to_have_css("color", "rgb(1, 2, 3)")
    assert frame.locator("html").evaluate("() => document.title") != "ran"
    expect(asgi_page.get_by_test_id("turn-status")).to_contain_text("Answered")
    asgi_page.wait_for_timeout(1500)  # time for any load the page would make
    assert asked == []
    # Still there: the refresh did not take the frame away.
    expect(frame.locator("p")).to_have_text("Shown but sealed")
    # The frame's loads were refused by the frame's policy; the page broke none of its own.
    assert {url for url, _ in violations} <= {f"{asgi_page.url.split('/w/')[0]}/frame/html/"}
    assert any("image.png" in text for _, text in violations)


def test_a_file_saved_to_drive_is_a_link_live_and_after_a_reload(
    asgi_page, asgi_login, direct_agent
):
    member = User.objects.get(email="member@example.com")
    asgi_login(member)
    conversation = open_conversation(asgi_page, direct_agent, member)

    code = "open('out.csv', 'w').write('region,total\\nnorth,3\\n')"
    send(asgi_page, f"```python\n{code}\n```\n/download out.csv /reports/\n")

    link = asgi_page.get_by_test_id("drive-file")
    expect(link).to_have_text("/reports/out.csv", timeout=SANDBOX_START)
    expect(asgi_page.get_by_test_id("turn-status")).to_contain_text("Answered")
    # The transfer's ending is said once, live as after a reload.
    cell = asgi_page.get_by_test_id("tool-cell").filter(has=link)
    expect(cell.locator(".out-notice").filter(has_text="Copied /workspace/out.csv")).to_have_count(
        1
    )
    with asgi_page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "out.csv"
    assert download.value.path().read_text() == "region,total\nnorth,3\n"

    asgi_page.goto(f"/w/demo/playground/{conversation.pk}/")
    expect(asgi_page.get_by_test_id("drive-file")).to_have_text("/reports/out.csv")
    expect(asgi_page.get_by_test_id("drive-file")).to_have_attribute(
        "href", link_href(conversation)
    )


def link_href(conversation: Conversation) -> str:
    drive_file = conversation.workspace.drive_files.get(path="/reports/out.csv")
    return reverse(
        "drive:download", kwargs={"ws": conversation.workspace.slug, "pk": drive_file.pk}
    )


def test_the_title_follows_the_first_message_live_and_can_be_renamed_and_searched(
    asgi_page, asgi_login, direct_agent
):
    page = asgi_page
    asgi_login(User.objects.get(email="member@example.com"))
    page.goto(f"/w/demo/playground/?agent={direct_agent.pk}")
    page.get_by_test_id("agent-picker").select_option(str(direct_agent.pk))
    page.get_by_test_id("new-conversation").click()
    # Listed while open, under its agent's name until its first message.
    current = page.locator("[data-testid=conversation-link][aria-current=page]")
    expect(current).to_contain_text(f"Conversation with {direct_agent.name}")

    send(page, "Add two numbers\n```python\nprint(1 + 1)\n```")
    title = page.get_by_test_id("conversation-title")
    # Live, without a reload: the words, not the code fences.
    expect(title).to_have_text("Add two numbers")
    expect(current).to_contain_text("Add two numbers")
    expect(page.get_by_test_id("transcript")).to_contain_text("2", timeout=SANDBOX_START)

    page.get_by_test_id("rename").locator("summary").click()
    page.get_by_label("Title").fill("Sums")
    page.get_by_test_id("rename-save").click()
    expect(page.get_by_role("status")).to_have_text("Renamed to “Sums”.")
    expect(page.get_by_test_id("conversation-title")).to_have_text("Sums")

    page.get_by_label("Search your conversations").fill("two numbers")
    page.get_by_label("Search your conversations").press("Enter")
    expect(page.get_by_test_id("conversation-link")).to_have_count(1)
    expect(page.get_by_test_id("conversation-link")).to_contain_text("Sums")
    page.get_by_label("Search your conversations").fill("no such words")
    page.get_by_label("Search your conversations").press("Enter")
    expect(page.get_by_test_id("no-conversations")).to_have_text("None with “no such words”.")
