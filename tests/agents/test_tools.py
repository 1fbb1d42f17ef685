"""What the model is told after a tool call, and what the page keeps."""

import base64

from agents import tools
from agents.tools import ExecutionSummary, OutputLog, execution_result, transfer_result

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

    result = execution_result(summary, kind=tools.PYTHON)

    assert result.splitlines()[0] == "status: ok (1.2 s)"
    assert "stdout:\nhello" in result
    assert "result:\n42" in result
    assert "[image/png, 640x480 px image shown to the user]" in result
    assert "files created or changed: /workspace/chart.png" in result


def test_long_output_keeps_its_start_and_end_with_a_notice():
    text = "".join(f"line {i}\n" for i in range(5000))

    result = execution_result(
        summary_of({"type": "stdout", "text": text}, status()), kind=tools.PYTHON
    )

    assert "line 0\n" in result and "line 4999" in result
    assert "characters omitted" in result
    assert len(result) < tools.MODEL_OUTPUT_CHARS + 500


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

    result = execution_result(summary, kind=tools.PYTHON)

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
    assert "`pip install textblob`" in execution_result(summary, kind=tools.PYTHON)


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
    assert f"Upload it from Drive first with {tools.UPLOAD}" in execution_result(
        summary, kind=tools.PYTHON
    )


def test_a_timeout_hints_at_working_in_chunks():
    summary = summary_of(status("timeout", message="Stopped at the 30 s limit."))
    result = execution_result(summary, kind=tools.PYTHON)
    assert "note: Stopped at the 30 s limit." in result
    assert "smaller chunks" in result


def test_a_shell_result_has_its_exit_code():
    summary = summary_of({"type": "stderr", "text": "nope\n"}, status("error", exit_code=2))
    result = execution_result(summary, kind=tools.SHELL)
    assert "exit code: 2" in result and "stderr:\nnope" in result


def test_an_existing_drive_file_hints_at_replace():
    event = {"status": "error", "message": "/out/a.csv already exists in Drive."}
    assert "pass replace: true" in transfer_result(event)


def test_the_saved_output_merges_chunks_and_stops_at_its_cap(monkeypatch):
    monkeypatch.setattr(tools, "SAVED_TEXT_CHARS", 10)
    log = OutputLog()
    log.text("stdout", "abc")
    log.text("stdout", "def")
    log.text("stderr", "ghijkl")
    log.text("stderr", "more")

    assert log.entries[0] == {"type": "stdout", "text": "abcdef"}
    assert log.entries[1] == {"type": "stderr", "text": "ghij"}
    assert log.entries[2]["type"] == "notice"
    assert len(log.entries) == 3


def test_an_image_over_the_saved_size_becomes_a_notice(monkeypatch):
    monkeypatch.setattr(tools, "SAVED_IMAGE_BYTES", 5)
    log = OutputLog()
    assert log.image("image/png", "AAAA") is True
    assert log.image("image/png", "BBBB") is False
    assert [e["type"] for e in log.entries] == ["image", "notice"]
