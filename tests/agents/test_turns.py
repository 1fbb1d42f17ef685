"""Whole turns against real Docker: the loop, the sandbox's life, and the records."""

import asyncio
import re
import socket
import time

import pytest
from channels.db import database_sync_to_async
from channels_redis.core import RedisChannelLayer

from agents.events import GroupPublisher
from agents.models import Agent, Message, ToolCall, Turn
from agents.providers.base import Finish, ProviderError, ToolCallRequest
from agents.services import turns as services
from agents.turns import ACCESS_LOST, turn_execute
from connections import crypto
from connections.models import Connection, Kind
from sandbox.models import SandboxSession
from tests.agents.llm_server import Reply, ScriptedLLM
from tests.agents.llm_server import ToolCall as ScriptedCall
from tests.agents.test_consumers import LONG_LOOP, lose_access
from tests.conftest import run_in_new_loop
from tests.sandbox.engine import container_exists

pytestmark = pytest.mark.usefixtures("sandbox_image", "transactional_db")


class Collect:
    def __init__(self):
        self.events: list[dict] = []

    async def send(self, event: dict) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def text(self, kind: str = "stdout") -> str:
        return "".join(e["text"] for e in self.events if e["type"] == kind)


def run_turn(conversation, text: str) -> tuple[Turn, Collect]:
    turn = services.turn_create(conversation=conversation, text=text)
    sink = Collect()
    run_in_new_loop(turn_execute(turn.pk, publisher=sink))
    turn.refresh_from_db()
    return turn, sink


def py(code: str) -> str:
    return f"```python\n{code}\n```\n"


def assert_sandbox_gone(turn: Turn) -> None:
    session = SandboxSession.objects.get(pk=turn.sandbox_session_id)
    assert session.status == SandboxSession.Status.CLOSED
    assert not container_exists(session.container_name)


def test_a_direct_turn_runs_the_blocks_in_order_and_answers(conversation):
    turn, sink = run_turn(conversation, py("print('hello')") + "```bash\necho from-bash\n```")

    assert turn.status == Turn.Status.ANSWERED
    types = sink.types()
    assert types[0] == "turn_started" and types[-1] == "turn_finished"
    assert types.count("tool_started") == 2 and types.count("tool_finished") == 2
    assert types.index("stdout") < types.index("tool_finished")
    assert sink.text() == "hello\nfrom-bash\n"
    assert "No LLM" in sink.text("text_delta")
    calls = list(turn.tool_calls.order_by("seq"))
    assert [c.status for c in calls] == ["ok", "ok"]
    assert all(c.execution_id and c.duration_ms is not None for c in calls)
    assert calls[0].output == [{"type": "stdout", "text": "hello\n"}]
    assert_sandbox_gone(turn)


def test_executions_of_one_turn_share_variables_and_the_next_turn_starts_fresh(conversation):
    first, sink = run_turn(conversation, py("x = 41") + py("print(x + 1)"))
    assert sink.text() == "42\n"

    second, sink = run_turn(conversation, py("print(x)"))

    assert "NameError" in sink.text("stderr")
    assert second.sandbox_session_id != first.sandbox_session_id
    result = second.tool_calls.get().result
    assert "error: NameError" in result
    assert_sandbox_gone(first)
    assert_sandbox_gone(second)


def test_a_turn_without_code_opens_no_sandbox(conversation):
    turn, sink = run_turn(conversation, "hello there")

    assert turn.status == Turn.Status.ANSWERED
    assert turn.sandbox_session_id is None
    assert "no model reads your message" in sink.text("text_delta")


def test_code_execution_switched_off_runs_nothing_and_says_so(conversation):
    Agent.objects.filter(pk=conversation.agent_id).update(code_execution=False)

    turn, sink = run_turn(conversation, py("print(1)"))

    assert turn.sandbox_session_id is None
    assert "code execution is off" in sink.text("text_delta")


def test_without_an_active_pixelml_connection_the_tool_is_refused_in_plain_words(
    conversation, direct_agent
):
    Connection.objects.filter(workspace=conversation.workspace, kind="pixelml").delete()

    turn, sink = run_turn(conversation, py("print(1)"))

    assert turn.sandbox_session_id is None
    assert "no active PixelML connection" in sink.text("text_delta")
    assert "code execution is off" not in sink.text("text_delta")


def test_the_step_limit_ends_the_turn_and_closes_the_sandbox(conversation):
    Agent.objects.filter(pk=conversation.agent_id).update(max_steps=1)

    turn, _ = run_turn(conversation, py("a = 1") + py("print(a)"))

    assert turn.status == Turn.Status.STEP_LIMIT
    assert "all 1 steps" in turn.error_message
    assert_sandbox_gone(turn)


class FailingProvider:
    """Asks for one Python call, then fails like a provider that went away."""

    label = "failing"

    def __init__(self):
        self.calls = 0

    async def stream(self, *, system, messages, tools):
        self.calls += 1
        if self.calls == 1:
            yield ToolCallRequest(id="c1", name="_code_execute_python", arguments={"code": "1"})
            yield Finish("tool_calls")
            return
        raise ProviderError("The provider had an internal error (500): boom")


def test_a_provider_error_ends_the_turn_with_its_message_and_closes_the_sandbox(
    conversation, monkeypatch
):
    monkeypatch.setattr("agents.turns.provider_for", lambda agent, **_: FailingProvider())

    turn, sink = run_turn(conversation, "anything")

    assert turn.status == Turn.Status.ERROR
    assert turn.error_message == "The provider had an internal error (500): boom"
    assert sink.events[-1]["status"] == "error"
    assert_sandbox_gone(turn)


def test_a_stop_request_ends_a_running_loop_and_keeps_its_output(conversation):
    code = "import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.05)"
    turn = services.turn_create(conversation=conversation, text=py(code))
    sink = Collect()

    async def run_and_stop():
        task = asyncio.ensure_future(turn_execute(turn.pk, publisher=sink))
        while "stdout" not in sink.types():
            await asyncio.sleep(0.02)
        from channels.db import database_sync_to_async

        await database_sync_to_async(services.turn_request_stop)(turn=turn)
        return await asyncio.wait_for(task, 10)

    assert run_in_new_loop(run_and_stop()) == Turn.Status.CANCELLED
    turn.refresh_from_db()
    call = turn.tool_calls.get()
    assert call.status == ToolCall.Status.CANCELLED
    assert call.output[0]["text"].startswith("0\n")
    assert sink.events[-1] == {
        "type": "turn_finished",
        "turn": str(turn.pk),
        "status": "cancelled",
        "state": "stopped",
        "status_text": "Stopped by you",
        "message": "",
        "duration_ms": turn.duration_ms,
    }
    assert_sandbox_gone(turn)


def test_cancelling_the_task_interrupts_the_turn_and_closes_the_sandbox(conversation):
    code = "import time\nprint('start', flush=True)\ntime.sleep(20)"
    turn = services.turn_create(conversation=conversation, text=py(code))
    sink = Collect()

    async def run_and_cancel():
        task = asyncio.ensure_future(turn_execute(turn.pk, publisher=sink))
        while "stdout" not in sink.types():
            await asyncio.sleep(0.02)
        task.cancel()
        return await asyncio.wait_for(task, 10)

    assert run_in_new_loop(run_and_cancel()) == Turn.Status.INTERRUPTED
    turn.refresh_from_db()
    assert turn.status == Turn.Status.INTERRUPTED
    assert_sandbox_gone(turn)


def test_a_chart_reaches_the_browser_and_the_history(conversation):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"

    turn, sink = run_turn(conversation, py(code))

    displays = [e for e in sink.events if e["type"] == "display"]
    assert displays and displays[0]["mime"] == "image/png"
    output = turn.tool_calls.get().output
    assert any(entry["type"] == "image" for entry in output)
    shown = r"\[image/png, \d+x\d+ px image shown to the user\]"
    assert re.search(shown, turn.tool_calls.get().result)


def test_upload_and_download_move_files_between_drive_and_the_sandbox(conversation, paid_team):
    from django.core.files.base import ContentFile

    from drive.selectors import drive_file_exists
    from drive.services import drive_file_upload

    drive_file_upload(
        workspace=paid_team.workspace,
        path="/in/data.csv",
        content=ContentFile(b"a,b\n1,2\n"),
        uploaded_by=paid_team.admin,
    )
    message = (
        "/upload /in/data.csv\n"
        + py("open('out.csv', 'w').write(open('data.csv').read().upper())")
        + "/download out.csv /out/\n"
    )

    turn, sink = run_turn(conversation, message)

    assert turn.status == Turn.Status.ANSWERED, sink.events
    assert drive_file_exists(workspace=paid_team.workspace, path="/out/out.csv")
    files = [e for e in sink.events if e["type"] == "file"]
    assert files[0]["path"] == "/out/out.csv" and "/download/" in files[0]["url"]
    again, _ = run_turn(
        conversation,
        "/upload /in/data.csv\n"
        + py("open('out.csv','w').write('x')")
        + "/download out.csv /out/\n",
    )
    last = again.tool_calls.order_by("seq").last()
    assert last.status == "error"
    assert "replace" in last.result


def test_as_many_blocks_as_the_step_limit_all_run_and_get_an_answer(conversation):
    Agent.objects.filter(pk=conversation.agent_id).update(max_steps=2)

    turn, sink = run_turn(conversation, py("a = 1") + py("print(a + 1)"))

    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text() == "2\n"
    assert "Done: 2 steps ran" in sink.text("text_delta")
    assert turn.steps == 2
    assert_sandbox_gone(turn)


def test_a_step_limit_in_direct_mode_answers_the_block_it_could_not_run(conversation):
    Agent.objects.filter(pk=conversation.agent_id).update(max_steps=1)

    turn, _ = run_turn(conversation, py("a = 1") + py("print(a)"))

    assert turn.status == Turn.Status.STEP_LIMIT
    assert turn.tool_calls.count() == 1
    skipped = turn.messages.filter(role="tool").order_by("seq").last()
    assert skipped.tool_call_id == "direct-2"
    assert "not run" in skipped.content and "step limit" in skipped.content


def test_a_connection_key_that_cannot_be_decrypted_ends_the_turn_in_plain_words(conversation):
    connection = Connection.objects.create(
        workspace=conversation.workspace,
        kind=Kind.OPENAI,
        name="Old key",
        secret_encrypted="gAAAAAB-not-a-token-any-current-key-reads",
        base_url="https://api.openai.com/v1",
    )
    Agent.objects.filter(pk=conversation.agent_id).update(connection=connection, model="gpt-x")

    turn, sink = run_turn(conversation, "hello")

    assert turn.status == Turn.Status.ERROR
    assert "“Old key” cannot be used" in turn.error_message
    assert "cannot be decrypted" in turn.error_message
    assert sink.types() == ["turn_started", "turn_finished"]
    assert sink.events[-1]["status"] == "error"
    assert sink.events[-1]["message"] == turn.error_message
    next_turn = services.turn_create(conversation=conversation, text="again")
    assert next_turn.index == 2


def scripted_agent(conversation, llm: ScriptedLLM, settings) -> None:
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    connection = Connection.objects.create(
        workspace=conversation.workspace,
        kind=Kind.OPENAI,
        name="scripted",
        secret_encrypted=crypto.encrypt("sk-test-key"),
        base_url=llm.openai_url,
    )
    Agent.objects.filter(pk=conversation.agent_id).update(
        connection=connection, model="scripted-model"
    )


def assistant_texts(turn: Turn) -> list[str]:
    return list(turn.messages.filter(role=Message.Role.ASSISTANT).values_list("content", flat=True))


def test_text_streamed_before_a_provider_failure_stays_in_the_history(conversation, settings):
    with ScriptedLLM([Reply.stream_error("overloaded", "Half of ", "an answer")]) as llm:
        scripted_agent(conversation, llm, settings)

        turn, sink = run_turn(conversation, "Explain it")

    assert turn.status == Turn.Status.ERROR
    assert sink.text("text_delta") == "Half of an answer"
    assert assistant_texts(turn) == ["Half of an answer"]


def test_text_streamed_before_a_stop_stays_in_the_history(conversation, settings):
    with ScriptedLLM([Reply.hang("Thinking ", "aloud")]) as llm:
        scripted_agent(conversation, llm, settings)
        turn = services.turn_create(conversation=conversation, text="Explain it")
        sink = Collect()

        async def run_and_stop():
            from channels.db import database_sync_to_async

            task = asyncio.ensure_future(turn_execute(turn.pk, publisher=sink))
            while sink.text("text_delta") != "Thinking aloud":
                await asyncio.sleep(0.02)
            await database_sync_to_async(services.turn_request_stop)(turn=turn)
            return await asyncio.wait_for(task, 10)

        assert run_in_new_loop(run_and_stop()) == Turn.Status.CANCELLED

    assert assistant_texts(turn) == ["Thinking aloud"]


def test_calls_over_the_per_reply_cap_are_answered_without_running(conversation, settings):
    settings.TURNBOX_TURN_MAX_TOOL_CALLS = 2
    calls = [ScriptedCall("_code_execute_python", {"code": f"print({i})"}) for i in (1, 2, 3)]
    with ScriptedLLM([Reply.tools(*calls), Reply.text("Two ran.")]) as llm:
        scripted_agent(conversation, llm, settings)

        turn, sink = run_turn(conversation, "Print three numbers")

    assert turn.status == Turn.Status.ANSWERED, turn.error_message
    assert sink.text() == "1\n2\n"
    assert turn.tool_calls.count() == 2
    results = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert len(results) == 3
    assert results[2].startswith("status: not run")
    assert "at most 2 tool calls" in results[2] and "asked for 3" in results[2]
    assert_sandbox_gone(turn)


def test_a_turn_over_its_time_limit_ends_in_plain_words_and_closes_its_sandbox(
    conversation, settings
):
    settings.TURNBOX_TURN_MAX_SECONDS = 6
    code = "import time\nprint('start', flush=True)\ntime.sleep(120)"

    turn, sink = run_turn(conversation, py(code))

    assert turn.status == Turn.Status.ERROR
    assert turn.error_message.startswith("The turn was stopped after 6 seconds")
    assert turn.duration_ms < 30_000
    assert sink.text() == "start\n"
    assert turn.tool_calls.get().status == ToolCall.Status.CANCELLED
    assert sink.events[-1]["type"] == "turn_finished"
    assert_sandbox_gone(turn)


def test_a_channel_layer_that_cannot_send_ends_the_turn_saying_so(conversation):
    # A Redis channel layer with nothing listening: what a worker sees when Redis is down.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = GroupPublisher(conversation.pk)
    publisher.layer = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{port}"])
    turn = services.turn_create(conversation=conversation, text=py("print(1)"))

    status = run_in_new_loop(turn_execute(turn.pk, publisher=publisher))

    turn.refresh_from_db()
    assert status == turn.status == Turn.Status.ERROR
    assert turn.error_message.startswith(
        "The turn could not start: live updates could not be sent (ConnectionError)."
    )
    assert "connection and settings" not in turn.error_message
    assert turn.sandbox_session_id is None
    assert services.turn_create(conversation=conversation, text="again").index == 2


@pytest.mark.parametrize("change", ["removed", "demoted", "deactivated"])
def test_a_queued_turn_whose_person_lost_access_never_starts(conversation, change):
    turn = services.turn_create(conversation=conversation, text=LONG_LOOP)
    lose_access(conversation, change)
    sink = Collect()

    status = run_in_new_loop(turn_execute(turn.pk, publisher=sink))

    turn.refresh_from_db()
    assert status == turn.status == Turn.Status.ERROR
    assert turn.error_message == ACCESS_LOST
    assert turn.started_at is None and turn.ended_at is not None
    assert sink.types() == ["turn_finished"]
    assert sink.events[-1]["message"] == ACCESS_LOST
    assert turn.sandbox_session_id is None and not turn.tool_calls.exists()


@pytest.mark.parametrize("change", ["removed", "demoted", "deactivated"])
def test_a_running_turn_ends_soon_after_its_person_loses_access(conversation, change):
    turn = services.turn_create(conversation=conversation, text=LONG_LOOP)
    sink = Collect()

    async def run_and_lose_access():
        task = asyncio.ensure_future(turn_execute(turn.pk, publisher=sink))
        while "stdout" not in sink.types():
            await asyncio.sleep(0.02)
        await database_sync_to_async(lose_access)(conversation, change)
        lost_at = time.monotonic()
        status = await asyncio.wait_for(task, 10)
        return status, time.monotonic() - lost_at

    status, took = run_in_new_loop(run_and_lose_access())

    assert status == Turn.Status.ERROR
    assert took < 5, f"the turn ran on for {took:.1f} s after access was lost"
    turn.refresh_from_db()
    assert turn.error_message == ACCESS_LOST
    assert turn.tool_calls.get().status == ToolCall.Status.CANCELLED
    assert sink.events[-1]["type"] == "turn_finished"
    assert sink.events[-1]["message"] == ACCESS_LOST
    assert_sandbox_gone(turn)
