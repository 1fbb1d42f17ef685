"""What the model is told after a tool call, and what the page keeps."""

import base64

import pytest

from agents.tools import code, results
from agents.tools.results import ExecutionSummary, execution_result, transfer_result
from sandbox.outcome import MAX_BLOCKED_NAMED, Outcome

PNG_640_480 = base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")
).decode()


def summary_of(*events) -> ExecutionSummary:
    summary = ExecutionSummary()
    for event in events:
        summary.add(event)
    return summary


def status(value="ok", **fields):
    return {"type": "status", "status": value, "duration_ms": 1234, **fields}


def test_a_result_has_the_status_the_output_and_the_files():
    summary = summary_of(
        {"type": "stdout", "text": "hello\n"},
        {"type": "result", "data": {"text/plain": "42"}},
        {"type": "display", "data": {"image/png": PNG_640_480, "text/plain": "<Figure>"}},
        status(),
    )
    summary.files = ["/workspace/chart.png"]

    result = execution_result(summary, kind=code.PYTHON)

    assert result.splitlines()[0] == "status: ok (1.2 s)"
    assert "stdout:\nhello" in result
    assert "result:\n42" in result
    assert "[image/png, 640x480 px image shown to the user]" in result
    assert "files created or changed: /workspace/chart.png" in result
    assert "more images" not in result


def test_long_output_keeps_its_start_and_end_with_a_notice():
    text = "".join(f"line {i}\n" for i in range(5000))

    result = execution_result(
        summary_of({"type": "stdout", "text": text}, status()), kind=code.PYTHON
    )

    assert "line 0\n" in result and "line 4999" in result
    assert "characters omitted" in result
    assert len(result) < results.MODEL_OUTPUT_CHARS + 500


def test_an_error_gives_the_last_traceback_lines():
    traceback = [f"  frame {i}" for i in range(40)] + ["ZeroDivisionError: division by zero"]
    summary = summary_of(
        {
            "type": "error",
            "ename": "ZeroDivisionError",
            "evalue": "division by zero",
            "traceback": traceback,
        },
        status("error"),
    )

    result = execution_result(summary, kind=code.PYTHON)

    assert "error: ZeroDivisionError: division by zero" in result
    assert "frame 39" in result and "frame 5\n" not in result


def test_a_missing_module_hints_at_installing_it_with_the_shell_tool():
    summary = summary_of(
        {
            "type": "error",
            "ename": "ModuleNotFoundError",
            "evalue": "No module named 'textblob.x'",
            "traceback": [],
        },
        status("error"),
    )
    assert "`pip install textblob`" in execution_result(summary, kind=code.PYTHON)


def test_a_missing_file_hints_at_uploading_it_first():
    summary = summary_of(
        {
            "type": "error",
            "ename": "FileNotFoundError",
            "evalue": "[Errno 2] No such file or directory: 'q4.csv'",
            "traceback": [],
        },
        status("error"),
    )
    assert f"Upload it from Drive first with {code.UPLOAD}" in execution_result(
        summary, kind=code.PYTHON
    )


def test_a_timeout_hints_at_working_in_chunks():
    summary = summary_of(status("timeout", message="Stopped at the 30 s limit."))
    result = execution_result(summary, kind=code.PYTHON)
    assert "note: Stopped at the 30 s limit." in result
    assert "smaller chunks" in result


def test_a_shell_result_has_its_exit_code():
    summary = summary_of({"type": "stderr", "text": "nope\n"}, status("error", exit_code=2))
    result = execution_result(summary, kind=code.SHELL)
    assert "exit code: 2" in result and "stderr:\nnope" in result


def test_an_existing_drive_file_hints_at_replace():
    event = {"status": "error", "message": "/out/a.csv already exists in Drive."}
    assert "pass replace: true" in transfer_result(event)


# --- Without network -------------------------------------------------------------------


def module_missing(name="textblob"):
    return {
        "type": "error",
        "ename": "ModuleNotFoundError",
        "evalue": f"No module named '{name}'",
        "traceback": [],
    }


def test_a_missing_module_without_network_says_it_cannot_be_installed():
    summary = summary_of(module_missing(), status("error"))

    result = execution_result(summary, kind=code.PYTHON, network_off="this workspace")

    hint = result.splitlines()[-1]
    assert hint.startswith("hint: the module textblob is not in the sandbox")
    assert "network access is off for this workspace" in hint
    assert "“Python packages” preset" in hint and "network settings page" in hint
    assert "install it with the shell tool" not in result


@pytest.mark.parametrize(
    "failure",
    [
        "<urlopen error [Errno -3] Temporary failure in name resolution>",
        "[Errno -2] Name or service not known",
        "curl: (6) Could not resolve host: example.com",
        "NameResolutionError(\"Failed to resolve 'example.com'\")",
        "NewConnectionError('<urllib3.connection.HTTPSConnection>: Failed to establish a new "
        "connection: [Errno 101] Network is unreachable')",
        "[Errno 101] Network is unreachable",
    ],
)
def test_a_connection_failure_without_network_hints_at_the_policy(failure):
    error = {"type": "error", "ename": "URLError", "evalue": failure, "traceback": []}
    summary = summary_of(error, status("error"))

    result = execution_result(summary, kind=code.PYTHON, network_off="this workspace")

    assert "hint: network access is blocked by this workspace's policy" in result
    notice = results.network_off_notice(summary, network_off="this workspace")
    assert notice.startswith("Network access is off for this workspace")


def test_a_connection_failure_printed_by_a_shell_command_is_recognised():
    summary = summary_of(
        {"type": "stderr", "text": "curl: (6) Could not resolve host: pypi.org\n"},
        status("error", exit_code=6),
    )
    result = execution_result(summary, kind=code.SHELL, network_off="this agent")
    assert "hint: network access is blocked by this agent's policy" in result
    assert "agent's Code Execution tab" in result


def test_with_network_on_there_is_no_policy_hint_or_notice():
    failure = {
        "type": "error",
        "ename": "URLError",
        "evalue": "Temporary failure in name resolution",
        "traceback": [],
    }
    summary = summary_of(failure, status("error"))
    assert "policy" not in execution_result(summary, kind=code.PYTHON)
    assert results.network_off_notice(summary, network_off="") == ""
    assert "pip install" in execution_result(
        summary_of(module_missing(), status("error")), kind=code.PYTHON
    )


def test_other_errors_without_network_get_no_network_notice():
    summary = summary_of(
        {"type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": []}, status("error")
    )
    assert results.network_off_notice(summary, network_off="this workspace") == ""
    assert "hint:" not in execution_result(summary, kind=code.PYTHON, network_off="this workspace")


# --- Blocked network attempts ----------------------------------------------------------


def blocked_event(port: int) -> dict:
    message = f"network access to example.com:{port} is blocked by this workspace's policy"
    return {
        "type": "network_blocked",
        "host": "example.com",
        "port": port,
        "reason": "policy",
        "count": 1,
        "message": message,
    }


def many_blocked(n: int = 20_000) -> list[dict]:
    return [blocked_event(port) for port in range(1, n + 1)]


def blocked_outcome(events: list[dict]) -> Outcome:
    outcome = Outcome(kind="python", timeout=30, memory_mb=512, max_output=1024)
    outcome.network_blocked([event["message"] for event in events])
    return outcome


def test_twenty_thousand_blocked_attempts_name_ten_and_count_the_rest():
    outcome = blocked_outcome(many_blocked())

    message = outcome.status_event()["message"]
    assert message.count("Network access to example.com:") == MAX_BLOCKED_NAMED == 10
    assert "Network access to example.com:10 is blocked" in message
    assert "example.com:11 " not in message
    assert message.endswith("And 19,990 more blocked attempts.")
    assert outcome.record_fields()["message"] == message


def test_the_same_blocked_attempt_is_named_once():
    outcome = blocked_outcome([blocked_event(8080)] * 3)
    message = outcome.status_event()["message"]
    assert message == ("Network access to example.com:8080 is blocked by this workspace's policy.")


def test_blocked_attempts_are_told_to_the_model_once_and_within_the_budget():
    events = many_blocked()
    outcome = blocked_outcome(events)
    summary = summary_of({"type": "stdout", "text": "done\n"}, *events, outcome.status_event())

    result = execution_result(summary, kind=code.PYTHON)

    assert result.count("example.com:1 is blocked") == 1
    assert result.count("note: ") == 1
    assert "And 19,990 more blocked attempts." in result
    assert "hint: network access is limited" in result
    assert len(result) < results.MODEL_OUTPUT_CHARS


def test_note_lines_share_the_model_output_budget():
    summary = summary_of(status("error", message="x" * 100_000))
    summary.notices = ["y" * 50_000, "z" * 50_000]

    result = execution_result(summary, kind=code.PYTHON)

    assert "characters omitted" in result
    assert len(result) < results.MODEL_OUTPUT_CHARS + 500


# --- Images ----------------------------------------------------------------------------


def test_a_saved_image_is_told_with_its_drive_path():
    saved = results.Image(mime="image/png", size=(640, 480), drive_path="/charts/chart-1-1.png")
    refused = results.Image(mime="image/svg+xml", not_saved="only PNG and JPEG images are saved")
    assert saved.line() == (
        "[image/png, 640x480 px, shown to the user and saved to Drive at /charts/chart-1-1.png]"
    )
    assert refused.line() == (
        "[image/svg+xml, shown to the user; not saved to Drive: only PNG and JPEG images are saved]"
    )


def test_a_jpeg_gives_its_size():
    # SOI, an APP0 segment, then a baseline start-of-frame: 8 bits, 300 high, 500 wide.
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x11\x08"
        + (300).to_bytes(2, "big")
        + (500).to_bytes(2, "big")
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    summary = summary_of(
        {"type": "display", "data": {"image/jpeg": base64.b64encode(jpeg).decode()}}, status()
    )
    assert "[image/jpeg, 500x300 px image shown to the user]" in execution_result(
        summary, kind=code.PYTHON
    )


def test_image_data_is_kept_only_when_it_may_be_saved():
    display = {"type": "display", "data": {"image/png": PNG_640_480}}
    assert summary_of(display).images[0].data == ""
    keeping = ExecutionSummary(keep_images=True)
    keeping.add(display)
    keeping.add({"type": "display", "data": {"image/svg+xml": "<svg/>"}})
    assert keeping.images[0].data == PNG_640_480
    assert keeping.images[1].data == ""


def test_many_images_are_listed_up_to_a_limit():
    display = {"type": "display", "data": {"image/png": PNG_640_480}}
    summary = summary_of(*[display] * 500, status())
    result = execution_result(summary, kind=code.PYTHON)
    assert result.count("px image shown to the user]") == results.MAX_IMAGE_LINES
    assert f"[and {500 - results.MAX_IMAGE_LINES} more images shown to the user]" in result
