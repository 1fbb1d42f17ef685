"""Skills in whole turns against real Docker: a scripted model browses and reads a
skill, runs the adapted template on a Drive file and keeps the chart; Direct mode's
/skills and /skill commands."""

import pytest
from django.core.files.base import ContentFile

from agents.models import Agent, Turn
from drive.selectors import drive_file_get
from drive.services import drive_file_upload
from portal.demo import sample_sales_csv
from skills import services
from skills.selectors import skill_latest_version, version_file
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.test_turns import run_turn
from tests.agents.test_turns_llm import _tool_results, llm_agent

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")

TEMPLATE = "examples/sales-analysis.py"


@pytest.fixture(autouse=True)
def _servers_on_loopback(settings) -> None:
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True


@pytest.fixture
def examples(conversation, paid_team):
    skills = services.example_skills_import(workspace=paid_team.workspace, created_by=None)
    by_name = {s.name: s for s in skills}
    services.agent_skills_set(
        agent=conversation.agent, choices={by_name["data-analysis-toolkit"].pk: None}
    )
    return by_name


def test_a_model_browses_reads_adapts_and_runs_a_skill_template(conversation, paid_team, examples):
    drive_file_upload(
        workspace=paid_team.workspace,
        path="/data/files/q4_sales.csv",
        content=ContentFile(sample_sales_csv().encode()),
        uploaded_by=paid_team.admin,
    )
    version = skill_latest_version(skill=examples["data-analysis-toolkit"])
    template = bytes(version_file(version=version, path=TEMPLATE).content).decode()
    adapted = template.replace('CSV_PATH = "data/sales.csv"', 'CSV_PATH = "q4_sales.csv"')
    assert adapted != template
    script = [
        Reply.tool("_skill_list", {}, text="Let me see my skills."),
        Reply.tool("_skill_read", {"skill": "data-analysis-toolkit", "path": TEMPLATE}),
        Reply.tool("_code_upload_to_session", {"drive_path": "/data/files/q4_sales.csv"}),
        Reply.tool("_code_execute_python", {"code": adapted}),
        Reply.tool(
            "_code_download_from_session",
            {"sandbox_path": "revenue_by_region.png", "drive_path": "/reports/revenue.png"},
        ),
        Reply.text("Revenue by region is charted in /reports/revenue.png."),
    ]
    with ScriptedLLM(script) as llm:
        llm_agent(conversation, llm, "openai")
        turn, sink = run_turn(conversation, "Summarise q4_sales.csv by region.")

    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    calls = list(turn.tool_calls.order_by("seq"))
    assert [c.name for c in calls] == [s.tool_calls[0].name for s in script[:-1]]
    assert [c.status for c in calls] == ["ok"] * 5
    system = llm.requests[0]["messages"][0]["content"]
    assert "- data-analysis-toolkit: Summarise a sales" in system
    assert "sales-analysis.py" not in system, "files are read on demand, not in the prompt"
    tool_names = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert {"_skill_list", "_skill_read", "_code_execute_python"} <= tool_names
    results = _tool_results(llm.requests[-1], "openai")
    assert "data-analysis-toolkit (version 1)" in results[0] and TEMPLATE in results[0]
    assert 'CSV_PATH = "data/sales.csv"' in results[1]
    assert "Total revenue:" in results[3] and "Chart saved to revenue_by_region.png" in results[3]
    assert "North" in sink.text()
    assert calls[0].output[0]["type"] == "stdout" and "csv-to-json" not in calls[0].result
    chart = drive_file_get(workspace=paid_team.workspace, path="/reports/revenue.png")
    assert chart.size > 1000 and chart.content_type == "image/png"
    assert any(e["type"] == "display" for e in sink.events), "the chart is shown too"


def test_direct_mode_lists_skills_and_shows_a_file(conversation, examples):
    turn, sink = run_turn(conversation, f"/skills\n/skill data-analysis-toolkit {TEMPLATE}\n")

    assert turn.status == Turn.Status.ANSWERED
    calls = list(turn.tool_calls.order_by("seq"))
    assert [(c.name, c.status) for c in calls] == [("_skill_list", "ok"), ("_skill_read", "ok")]
    assert "data-analysis-toolkit (version 1)" in sink.text()
    assert 'CSV_PATH = "data/sales.csv"' in sink.text()
    assert turn.sandbox_session_id is None, "reading skills opens no sandbox"
    titles = [e["title"] for e in sink.events if e["type"] == "tool_started"]
    assert titles == ["Skills", f"Read data-analysis-toolkit/{TEMPLATE}"]


def test_direct_mode_reads_skills_with_code_execution_off(conversation, examples):
    Agent.objects.filter(pk=conversation.agent_id).update(code_execution=False)

    turn, sink = run_turn(conversation, "/skills\n")

    assert [(c.name, c.status) for c in turn.tool_calls.all()] == [("_skill_list", "ok")]
    assert "data-analysis-toolkit (version 1)" in sink.text()
    assert "Done: 1 step ran" in sink.text("text_delta")


def test_direct_mode_with_code_execution_off_runs_no_code_even_beside_a_skill_command(
    conversation, examples
):
    Agent.objects.filter(pk=conversation.agent_id).update(code_execution=False)

    turn, sink = run_turn(conversation, "/skills\n```python\nprint(1)\n```\n")

    assert not turn.tool_calls.exists()
    assert "code execution is off" in sink.text("text_delta")


def test_direct_mode_refuses_an_unattached_skill_and_stops(conversation, examples):
    turn, sink = run_turn(conversation, "/skill csv-to-json SKILL.md\n/skills\n")

    assert [c.status for c in turn.tool_calls.all()] == ["error"]
    assert "There is no skill named 'csv-to-json'" in sink.text("stderr")
    assert "Stopped after step 1 of 2" in sink.text("text_delta")


def test_skill_calls_show_as_cells_after_a_reload(conversation, examples, client_for):
    run_turn(conversation, "/skills\n")

    page = client_for(conversation.user).get(
        f"/w/{conversation.workspace.slug}/playground/{conversation.pk}/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "Skills" in html and "data-analysis-toolkit (version 1)" in html
