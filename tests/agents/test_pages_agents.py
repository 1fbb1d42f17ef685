import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from agents.models import Agent
from tests.agents import real_model
from tests.agents.helpers_agents import add_openai, add_pixelml, make_agent
from tests.agents.llm_server import ScriptedLLM
from tests.agents.test_provider_check import LLAMA_CPP_LIKE

llama_server = real_model.llama_server  # the fixture, bound here

NEEDS_PIXELML = (
    "Code execution needs an active PixelML connection: an admin adds one under Connections."
)


@pytest.fixture(autouse=True)
def _own_encryption_key(settings) -> None:
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_creates_an_agent_and_switches_code_execution_on_once_it_is_paid_for(
    page, login, team
):
    login(team.admin)
    page.get_by_role("link", name="Agents").click()
    expect(page.get_by_test_id("agents-empty")).to_be_visible()
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name").fill("Analyst")
    page.get_by_label("Description").fill("Answers questions about data")
    expect(page.get_by_label("Connection")).to_have_value("")  # Direct mode
    expect(page.get_by_label("Model")).to_be_hidden()  # Direct mode has no model
    page.get_by_role("button", name="Create agent").click()

    expect(page.get_by_role("status")).to_have_text("Agent “Analyst” created.")
    checklist = page.get_by_test_id("checklist")
    expect(page.get_by_test_id("checklist-progress")).to_have_text("2 of 5 done")
    expect(checklist.locator("[data-check=connection]")).to_contain_text("Done")
    expect(checklist.locator("[data-check=code_execution]")).to_contain_text("To do")
    expect(page.get_by_role("link", name="Open in playground")).to_have_attribute(
        "href", f"/w/acme/playground/?agent={Agent.objects.get().pk}"
    )

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("tab", name="Basics")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Name")).to_have_value("Analyst")

    # The tabs are links: arrow keys move between them, Enter opens one.
    page.get_by_role("tab", name="Basics").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Instructions")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Instructions")).to_have_attribute("aria-current", "page")
    page.get_by_role("textbox", name="Instructions").fill("Answer with a table when you can.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Instructions of “Analyst” saved.")
    expect(page.get_by_role("textbox", name="Instructions")).to_have_value(
        "Answer with a table when you can."
    )

    page.get_by_role("tab", name="Skills & Capabilities").click()
    expect(page.get_by_test_id("no-skills")).to_be_visible()
    page.get_by_role("link", name="Change in Code Execution").click()

    # Without PixelML the switch cannot be turned on, and a forged "on" is refused.
    switch = page.get_by_role("switch", name="Code execution")
    expect(page.get_by_role("tab", name="Code Execution")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.get_by_test_id("code-execution-unavailable")).to_have_text(NEEDS_PIXELML)
    expect(switch).to_be_disabled()
    switch.evaluate("input => { input.disabled = false; input.checked = true; }")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error")).to_have_text(NEEDS_PIXELML)
    assert not Agent.objects.get().code_execution

    add_pixelml(team)
    page.get_by_role("tab", name="Code Execution").click()
    expect(page.get_by_test_id("code-execution-unavailable")).to_have_count(0)
    expect(switch).to_be_enabled()
    switch.check()
    page.get_by_label("Memory (MiB)").fill("256")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Code Execution of “Analyst” saved.")
    expect(switch).to_be_checked()

    page.get_by_role("link", name="Back to agent").click()
    expect(checklist.locator("[data-check=code_execution]")).to_contain_text("Done")
    expect(checklist.locator("[data-check=code_execution]")).to_contain_text("Acme Corp")
    expect(page.get_by_test_id("checklist-progress")).to_have_text("3 of 5 done")
    expect(page.get_by_test_id("agent-settings")).to_contain_text("256 MiB")


def _local_agent(team, base_url: str, model: str) -> Agent:
    local = add_openai(team, name="Local", base_url=base_url, secret="")
    return make_agent(team, connection=local, model=model)


def _press_check_model(page, login, team, agent: Agent, timeout: float) -> None:
    login(team.admin)
    page.goto(f"/w/acme/agents/{agent.pk}/")
    expect(page.get_by_test_id("model-check")).to_have_count(0)
    # The click waits for the page the checks end on: seconds for a real model.
    page.get_by_role("button", name="Check model").click(timeout=timeout)
    expect(page.get_by_role("status")).to_contain_text("Checked “Analyst”.")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_check_model_shows_what_the_server_does_and_the_way_code_will_run(
    page, login, team, settings
):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    with ScriptedLLM(LLAMA_CPP_LIKE) as llm:
        agent = _local_agent(team, llm.openai_url, "scripted-model")
        _press_check_model(page, login, team, agent, timeout=30_000)
    expect(page.get_by_test_id("model-check-mode")).to_contain_text(
        "Turnbox will use: native tool calls. This agent's code mode is automatic, and "
        "automatic will go with native tool calls"
    )
    table = page.get_by_role("table", name="What the model's server does")
    expect(table.locator("tbody tr")).to_have_count(11)
    expect(table.locator("[data-check-row='streaming'] td").first).to_have_text("Yes")
    null = table.locator("[data-check-row='assistant content null accepted'] td")
    expect(null.first).to_have_text("No")
    expect(null.last).to_contain_text("internal error (500)")
    expect(table.locator("[data-check-row=mode]")).to_contain_text(
        "native tool calls (tool_choice auto, unstreamed)"
    )
    expect(page.get_by_test_id("checklist-progress")).to_have_text("2 of 5 done")
    page.reload()  # the table is the agent's, not the answer's
    expect(table.locator("tbody tr")).to_have_count(11)


@pytest.mark.browser
@pytest.mark.real_model
@pytest.mark.django_db(transaction=True)
def test_check_model_shows_the_table_of_a_real_model_server(
    page, login, team, settings, llama_server
):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    agent = _local_agent(team, llama_server.url, "smollm2")
    _press_check_model(page, login, team, agent, timeout=300_000)
    table = page.get_by_role("table", name="What the model's server does")
    expect(table.locator("[data-check-row='model found']")).to_contain_text(llama_server.model)
    # llama.cpp's server refuses tool_choice while streaming and answers it unstreamed.
    streamed = table.locator("[data-check-row='tool calls, tool_choice auto, streamed'] td")
    expect(streamed.first).to_have_text("No")
    expect(table.locator("[data-check-row=mode]")).to_contain_text("native tool calls")
    expect(page.get_by_test_id("model-check-mode")).to_contain_text(
        "Turnbox will use: native tool calls."
    )
