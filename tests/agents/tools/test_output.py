"""What the browser is shown of a tool call and what the history keeps of it."""

import time

from agents.tools import output
from agents.tools.output import OutputLog, show
from tests.conftest import run_in_new_loop


class Sink:
    """What the browser would be sent."""

    def __init__(self):
        self.events: list[dict] = []

    async def emit(self, event_type: str, **fields) -> None:
        self.events.append({"type": event_type, **fields})


def shown(*events: dict) -> tuple[list[dict], OutputLog]:
    sink, log = Sink(), OutputLog()

    async def run() -> None:
        for event in events:
            await show(event, log, sink.emit)

    run_in_new_loop(run())
    return sink.events, log


def many_blocked(n: int = 20_000) -> list[dict]:
    return [
        {
            "type": "network_blocked",
            "host": "example.com",
            "port": port,
            "message": f"network access to example.com:{port} is blocked by the policy",
        }
        for port in range(1, n + 1)
    ]


def test_the_saved_output_merges_chunks_and_stops_at_its_cap(monkeypatch):
    monkeypatch.setattr(output, "SAVED_TEXT_CHARS", 10)
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
    monkeypatch.setattr(output, "SAVED_IMAGE_BYTES", 5)
    log = OutputLog()
    assert log.image("image/png", "AAAA") is True
    assert log.image("image/png", "BBBB") is False
    assert [e["type"] for e in log.entries] == ["image", "notice"]


def test_the_saved_notices_stop_at_their_cap():
    log = OutputLog()
    for event in many_blocked():
        log.notice(event["message"] + " " + "x" * 5000)

    assert len(log.entries) == output.MAX_NOTICES + 1
    assert log.entries[-1]["text"] == "[more notices were shown than the history keeps]"
    assert all(len(entry["text"]) <= output.NOTICE_CHARS for entry in log.entries)


def test_blocked_attempts_are_not_shown_one_by_one():
    started = time.monotonic()
    events, log = shown(*many_blocked())

    # The execution's status message names them, a few at most (sandbox/outcome.py).
    assert events == [] and log.entries == []
    assert time.monotonic() - started < 5


def test_html_is_shown_live_in_its_frame_and_kept_as_plain_text():
    html = {"text/html": "<b>hi</b><script>alert(1)</script>", "text/plain": "hi"}
    events, log = shown({"type": "display", "data": html})

    assert events == [{"type": "display", "mime": "text/html", "data": html["text/html"]}]
    assert log.entries == [{"type": "stdout", "text": "hi\n"}]


def test_svg_is_shown_and_kept_as_base64_image_data():
    events, log = shown({"type": "display", "data": {"image/svg+xml": "<svg/>"}})

    assert events == [{"type": "display", "mime": "image/svg+xml", "data": "PHN2Zy8+"}]
    assert log.entries == [{"type": "image", "mime": "image/svg+xml", "data": "PHN2Zy8+"}]


def test_text_and_errors_are_streamed_and_kept():
    error = {"type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    events, log = shown({"type": "stdout", "text": "a"}, error, {"type": "status"})

    assert events == [
        {"type": "stdout", "text": "a"},
        {"type": "stderr", "text": "ValueError: bad\n"},
    ]
    assert log.entries == [
        {"type": "stdout", "text": "a"},
        {"type": "stderr", "text": "ValueError: bad\n"},
    ]
