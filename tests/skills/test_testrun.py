"""The test run: each shipped example runs in a real sandbox with its sample data, its
output streamed; the websocket is for the skill's workspace admins only."""

import base64

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from config.routing import websocket_urlpatterns
from connections.models import Connection
from sandbox import services as sandbox_services
from sandbox.models import SandboxSession
from skills import services
from skills.selectors import skill_latest_version
from skills.testrun import _forward, skill_test_run
from tests.agents.test_consumers import receive_until
from tests.conftest import run_in_new_loop, socket_accepts
from tests.skills.helpers import skill_files
from workspaces.models import Membership, Role

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


class Events:
    def __init__(self):
        self.events: list[dict] = []

    async def __call__(self, event_type: str, **fields) -> None:
        self.events.append({"type": event_type, **fields})

    def text(self, kind: str = "stdout") -> str:
        return "".join(e["text"] for e in self.events if e["type"] == kind)

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
def examples(paid_team):
    skills = services.example_skills_import(workspace=paid_team.workspace, created_by=None)
    return {s.name: s for s in skills}


def run(skill, path: str, user) -> tuple[str, Events]:
    events = Events()
    version = skill_latest_version(skill=skill)
    status = run_in_new_loop(
        skill_test_run(skill=skill, version=version, path=path, user=user, emit=events)
    )
    return status, events


def test_the_data_analysis_example_prints_a_summary_and_shows_its_chart(examples, paid_team):
    status, events = run(
        examples["data-analysis-toolkit"], "examples/sales-analysis.py", paid_team.admin
    )
    assert status == "ok", events.text("stderr")
    out = events.text()
    assert "Rows: 36" in out and "Total revenue:" in out
    assert "Revenue by region:" in out and "North" in out and "West" in out
    assert "Chart saved to revenue_by_region.png" in out
    image = events.of("display")[0]
    assert image["mime"] == "image/png"
    assert base64.b64decode(image["data"]).startswith(b"\x89PNG")
    session = SandboxSession.objects.get(purpose="skill_test")
    assert session.workspace == paid_team.workspace and session.started_by == paid_team.admin
    assert session.status == SandboxSession.Status.CLOSED


def test_the_csv_to_json_example_writes_typed_records(examples, paid_team):
    status, events = run(examples["csv-to-json"], "examples/convert.py", paid_team.admin)
    assert status == "ok", events.text("stderr")
    out = events.text()
    assert "Wrote 4 records from data/customers.csv to customers.json." in out
    assert '"active": true' in out and '"lifetime_value": 12500.5' in out


def test_the_report_generation_example_builds_a_pdf(examples, paid_team):
    status, events = run(examples["report-generation"], "examples/make-report.py", paid_team.admin)
    assert status == "ok", events.text("stderr")
    out = events.text()
    assert "Report written to report.pdf: 1 page(s)" in out
    assert "Travel" in out and "EUR 490.10" in out


def test_without_pixelml_the_run_is_refused_in_plain_words(examples, paid_team):
    Connection.objects.filter(workspace=paid_team.workspace, kind="pixelml").delete()
    status, events = run(examples["csv-to-json"], "examples/convert.py", paid_team.admin)
    assert status == "refused"
    assert "needs an active PixelML connection" in events.of("refused")[0]["message"]
    assert not SandboxSession.objects.exists()


def test_only_python_or_shell_files_of_the_skill_run(examples, paid_team):
    status, events = run(examples["csv-to-json"], "data/customers.csv", paid_team.admin)
    assert status == "refused"
    assert "not a Python or shell file" in events.of("refused")[0]["message"]
    status, _ = run(examples["csv-to-json"], "../../etc/passwd.py", paid_team.admin)
    assert status == "refused"


def socket_for(skill, user, slug=None) -> WebsocketCommunicator:
    path = f"/ws/w/{slug or skill.workspace.slug}/skills/{skill.pk}/test/"
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    socket.scope["user"] = user
    return socket


def connect(skill, user, slug=None) -> tuple[bool, int | None]:
    async def attempt():
        socket = socket_for(skill, user, slug)
        result = await socket.connect(timeout=10)
        await socket.disconnect()
        return result

    return run_in_new_loop(attempt())


@pytest.fixture
def skill(paid_team):
    workspace = paid_team.workspace
    return services.skill_import(workspace=workspace, files=skill_files(), created_by=None)


def test_the_socket_refuses_members_finance_and_other_workspaces(skill, paid_team, other_team):
    assert connect(skill, paid_team.admin) == (True, None)
    assert connect(skill, paid_team.member) == (False, 4403)
    assert connect(skill, paid_team.finance) == (False, 4403)
    assert connect(skill, AnonymousUser()) == (False, 4403)
    assert connect(skill, other_team.admin) == (False, 4403)
    assert connect(skill, other_team.admin, slug=other_team.workspace.slug) == (False, 4403)


def test_the_full_application_checks_the_session_cookie_and_the_origin(skill, paid_team):
    path = f"/ws/w/{skill.workspace.slug}/skills/{skill.pk}/test/"
    assert socket_accepts(path, paid_team.admin) is True
    assert socket_accepts(path, paid_team.admin, origin="http://evil.example") is False
    # The same host on another port or scheme is the same site, not the same origin.
    assert socket_accepts(path, paid_team.admin, origin="http://localhost:9999") is False
    assert socket_accepts(path, paid_team.admin, origin="https://localhost") is False
    assert socket_accepts(path, paid_team.admin, cookie=False) is False


def test_the_socket_streams_a_run_to_its_end(skill, paid_team):
    async def session():
        socket = socket_for(skill, paid_team.admin)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "run", "path": "examples/run.py"})
        events = await receive_until(socket, "finished", timeout=60)
        await socket.send_json_to({"type": "dance"})
        refusal = await socket.receive_json_from()
        await socket.disconnect()
        return events, refusal

    events, refusal = run_in_new_loop(session())
    assert events[0]["type"] == "starting"
    assert "rows 2\n" in "".join(e.get("text", "") for e in events if e["type"] == "stdout")
    assert events[-1]["status"] == "ok"
    assert refusal == {"type": "refused", "message": "Unknown request."}


def open_test_session(workspace, user):
    return sandbox_services.sandbox_session_create(
        workspace=workspace, started_by=user, purpose="skill_test", runtime="runc", image="x",
        owner="",
    )  # fmt: skip


def ask_to_run(skill, user) -> dict:
    async def session():
        socket = socket_for(skill, user)
        await socket.connect(timeout=10)
        await socket.send_json_to({"type": "run", "path": "examples/run.py"})
        answer = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return answer

    return run_in_new_loop(session())


def test_a_person_runs_at_most_two_tests_at_once(skill, paid_team):
    for _ in range(2):
        open_test_session(skill.workspace, paid_team.admin)

    answer = ask_to_run(skill, paid_team.admin)

    assert answer == {
        "type": "refused",
        "message": "You have 2 test runs going; wait for one to end.",
    }


def test_an_admin_demoted_while_the_socket_is_open_cannot_start_a_run(skill, paid_team):
    async def session():
        socket = socket_for(skill, paid_team.admin)
        connected, _ = await socket.connect(timeout=10)
        await database_sync_to_async(demote)()
        await socket.send_json_to({"type": "run", "path": "examples/run.py"})
        answer = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return connected, answer

    def demote() -> None:
        Membership.objects.filter(user=paid_team.admin, workspace=skill.workspace).update(
            role=Role.MEMBER
        )

    connected, answer = run_in_new_loop(session())
    assert connected
    assert answer == {"type": "refused", "message": "Only the workspace's admins test skills."}


def test_the_test_page_gets_images_as_base64_and_html_only_as_plain_text():
    events = Events()
    html = {"text/html": "<script>alert(1)</script>", "text/plain": "a table"}

    async def forward() -> list:
        return [
            await _forward({"type": "display", "data": {"image/svg+xml": "<svg/>"}}, events),
            await _forward({"type": "result", "data": html}, events),
            await _forward({"type": "status", "status": "ok", "duration_ms": 5}, events),
        ]

    statuses = run_in_new_loop(forward())

    assert statuses == [None, None, "ok"]
    assert events.of("display") == [
        {"type": "display", "mime": "image/svg+xml", "data": "PHN2Zy8+"}
    ]
    assert events.text() == "a table\n"
    assert events.of("finished") == [
        {"type": "finished", "status": "ok", "duration_ms": 5, "message": ""}
    ]
