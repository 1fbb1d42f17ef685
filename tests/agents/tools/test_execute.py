"""The code tools against real Docker, through the registry as a turn runs them: images
saved to Drive, what the model and the browser are told when the network is off, the
files each call left."""

import io
import time

import pytest
from django.urls import reverse

from agents.models import Agent, Turn
from agents.sandboxes import TurnSandbox
from agents.services import turns as services
from agents.tools import registry
from agents.tools.code import PYTHON
from agents.tools.output import OutputLog
from agents.tools.types import ToolCallRequest, ToolOutcome, ToolRun
from drive.models import DriveFile
from drive.selectors import drive_file_open
from drive.services import drive_file_upload
from tests.conftest import run_in_new_loop

CHART = (
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()\nprint('drawn')"
)


class Sink:
    """What the browser would be sent."""

    def __init__(self):
        self.events: list[dict] = []

    async def emit(self, event_type: str, **fields) -> None:
        self.events.append({"type": event_type, **fields})

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]


def new_turn(conversation) -> Turn:
    turn = services.turn_create(conversation=conversation, text="go")
    # As the turn loop loads it: nothing is read lazily inside the event loop.
    return Turn.objects.select_related(
        "conversation__agent__connection", "conversation__workspace", "conversation__user"
    ).get(pk=turn.pk)


def python(code: str, **arguments) -> ToolCallRequest:
    return ToolCallRequest(id="call", name=PYTHON, arguments={"code": code, **arguments})


def run_calls(turn: Turn, *calls: ToolCallRequest) -> tuple[list[ToolOutcome], Sink]:
    sandbox, sink = TurnSandbox.for_turn(turn), Sink()

    async def run() -> list[ToolOutcome]:
        try:
            return [await registry.dispatch(call, tool_run(turn, sandbox, sink)) for call in calls]
        finally:
            await sandbox.close()

    return run_in_new_loop(run()), sink


def tool_run(turn: Turn, sandbox: TurnSandbox, sink: Sink) -> ToolRun:
    return ToolRun(turn=turn, sandbox=sandbox, emit=sink.emit, log=OutputLog())


def chart_name(turn: Turn, n: int) -> str:
    return f"chart-{turn.pk.hex[:8]}-{n}"


# --- Images to Drive -------------------------------------------------------------------

docker = pytest.mark.usefixtures("sandbox_image", "transactional_db")


@docker
def test_a_chart_is_saved_to_drive_and_its_path_told_to_the_model_and_browser(conversation):
    turn = new_turn(conversation)
    workspace = conversation.workspace
    taken = f"/charts/{chart_name(turn, 1)}.png"
    drive_file_upload(workspace=workspace, path=taken, content=io.BytesIO(b"an older file"))

    (first, second), sink = run_calls(
        turn, python(CHART, save_images_to="/charts"), python(CHART, save_images_to="/charts/")
    )

    # The name in use got a suffix; the next call's image got the next number.
    paths = [f"/charts/{chart_name(turn, 1)}-2.png", f"/charts/{chart_name(turn, 2)}.png"]
    for outcome, path in zip((first, second), paths, strict=True):
        assert outcome.status == "ok"
        assert "stdout:\ndrawn" in outcome.result
        line = next(line for line in outcome.result.splitlines() if line.startswith("[image"))
        assert line.startswith("[image/png, ")
        assert line.endswith(f" px, shown to the user and saved to Drive at {path}]")
        saved = DriveFile.objects.get(workspace=workspace, path=path)
        assert saved.content_type == "image/png"
        assert saved.uploaded_by == conversation.user
        with drive_file_open(drive_file=saved) as content:
            assert content.read(8) == b"\x89PNG\r\n\x1a\n"
        url = reverse("drive:download", kwargs={"ws": workspace.slug, "pk": saved.pk})
        assert {"type": "file", "path": path, "url": url} in sink.events
        assert {"type": "file", "path": path, "url": url} in outcome.log.entries
    with drive_file_open(drive_file=DriveFile.objects.get(path=taken)) as content:
        assert content.read() == b"an older file"
    assert len(sink.of("display")) == 2  # shown live as well


@docker
def test_without_a_folder_no_image_is_saved(conversation):
    (outcome,), sink = run_calls(new_turn(conversation), python(CHART))

    assert outcome.status == "ok"
    image_lines = [line for line in outcome.result.splitlines() if line.startswith("[")]
    assert len(image_lines) == 1 and image_lines[0].endswith(" px image shown to the user]")
    assert "Drive" not in outcome.result
    assert sink.of("display") and not sink.of("file")
    assert not DriveFile.objects.exists()


@docker
def test_a_bad_folder_is_told_plainly_and_the_output_is_kept(conversation):
    workspace = conversation.workspace
    drive_file_upload(workspace=workspace, path="/report.txt", content=io.BytesIO(b"text"))

    (relative, into_a_file, no_image), sink = run_calls(
        new_turn(conversation),
        python(CHART, save_images_to="charts"),
        python(CHART, save_images_to="/report.txt"),
        python("print('no chart')", save_images_to="/charts"),
    )

    assert "stdout:\ndrawn" in relative.result
    assert (
        "note: The images were not saved: save_images_to is not a Drive folder (paths must "
        "be absolute, starting with “/” (got “charts”).)"
    ) in relative.result
    assert "px image shown to the user]" in relative.result
    assert "stdout:\ndrawn" in into_a_file.result
    assert "not saved to Drive: " in into_a_file.result
    assert "“/report.txt” is a file, so it cannot hold other files" in into_a_file.result
    notices = [e["text"] for e in sink.of("notice")]
    assert any(text.startswith("The images were not saved") for text in notices)
    assert any("“/report.txt” is a file" in text for text in notices)
    assert "note: The code showed no image, so nothing was saved to /charts/." in no_image.result
    assert not sink.of("file")
    assert list(DriveFile.objects.values_list("path", flat=True)) == ["/report.txt"]


# --- Without network -------------------------------------------------------------------


@docker
def test_code_without_network_is_told_that_the_policy_blocks_it(conversation):
    code = "import urllib.request\nurllib.request.urlopen('https://example.com/', timeout=20)"

    (outcome,), sink = run_calls(new_turn(conversation), python(code))

    assert outcome.status == "error"
    assert "error: URLError" in outcome.result
    assert "hint: network access is blocked by this workspace's policy" in outcome.result
    assert outcome.duration_ms < 5_000  # refused at once, no wait for a timeout
    notices = [e["text"] for e in sink.of("notice")]
    assert notices and notices[0].startswith(
        "Network access is off for this workspace: its network policy blocks every connection"
    )
    assert notices[0] in [e["text"] for e in outcome.log.entries if e["type"] == "notice"]


@docker
def test_pip_without_network_fails_at_once_and_the_hint_comes_before_its_error(conversation):
    (outcome,), sink = run_calls(
        new_turn(conversation), python("import subprocess, sys\n"
        "subprocess.run([sys.executable, '-m', 'pip', 'install', 'six'], check=True)")
    )  # fmt: skip

    assert outcome.status == "error"
    shown = "".join(e["text"] for e in sink.of("stdout") + sink.of("stderr"))
    assert "Retrying" not in shown  # pip was told not to retry without a network
    notice, *_ = [e for e in sink.of("notice")]
    assert notice["first"] is True and notice["text"].startswith("Network access is off")
    first = outcome.log.entries[0]
    assert first["type"] == "notice" and first["text"] == notice["text"]


# --- The agent's limits and the files it leaves --------------------------------------


@docker
def test_the_agents_own_limits_reach_its_sandbox(conversation):
    Agent.objects.filter(pk=conversation.agent_id).update(timeout_seconds=1, memory_mb=256)
    turn = new_turn(conversation)
    sandbox, sink = TurnSandbox.for_turn(turn), Sink()

    async def run():
        try:
            call = python("import time\ntime.sleep(5)")
            outcome = await registry.dispatch(call, tool_run(turn, sandbox, sink))
            container = sandbox._session.session.sandbox.container
            container.reload()
            return outcome, container.attrs["HostConfig"]["Memory"]
        finally:
            await sandbox.close()

    started = time.monotonic()
    outcome, memory = run_in_new_loop(run())

    assert outcome.status == "timeout"
    assert time.monotonic() - started < 4.5, "cut at the agent's 1 s, not the workspace's 30 s"
    assert "hint: the code hit the time limit" in outcome.result
    assert memory == 256 * 1024 * 1024


@docker
def test_the_model_is_told_which_files_each_call_created_or_changed(conversation):
    turn = new_turn(conversation)
    first, second = run_calls(
        turn,
        python("open('a.csv', 'w').write('x')\nopen('b.txt', 'w').write('y')"),
        python(
            "open('b.txt', 'a').write('z')\nimport os\nos.makedirs('out', exist_ok=True)\n"
            "open('out/c.json', 'w').write('{}')"
        ),
    )[0]

    assert "files created or changed: /workspace/a.csv, /workspace/b.txt" in first.result
    assert "files created or changed: /workspace/b.txt, /workspace/out/c.json" in second.result
    assert "a.csv" not in second.result
