"""The code tools a model may call, and how their results are told back to it.

Results are written for a model: short, with the output it needs (truncated with a
notice), the error's last traceback lines, the files the code created, and a hint for
the failures models run into most. What the browser shows (every chunk, images) goes
through ``OutputLog`` instead.
"""

import asyncio
import base64
import re
from dataclasses import dataclass, field

from agents.providers.base import ToolSpec
from skills import names as skill_names

PYTHON = "_code_execute_python"
SHELL = "_code_execute_shell"
UPLOAD = "_code_upload_to_session"
DOWNLOAD = "_code_download_from_session"
CODE_TOOLS = (PYTHON, SHELL, UPLOAD, DOWNLOAD)

MODEL_OUTPUT_CHARS = 8_000
MODEL_OUTPUT_HEAD = 2_000
TRACEBACK_LINES = 12
# What the page keeps of one tool call for showing it again after a reload.
SAVED_TEXT_CHARS = 200_000
SAVED_IMAGE_BYTES = 8 * 1024 * 1024
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")

_WORKSPACE_NOTE = "The sandbox's working folder is /workspace; it starts empty every turn."

CODE_TOOL_SPECS = [
    ToolSpec(
        name=PYTHON,
        description=(
            "Run Python code in this turn's sandbox (a Jupyter kernel: variables, imports "
            "and files persist between calls within the turn). Printed output, the last "
            "expression's value and charts (matplotlib figures show without saving) are "
            f"shown to the user. {_WORKSPACE_NOTE} Each call may run for a limited time."
        ),
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python code to run."}},
            "required": ["code"],
        },
    ),
    ToolSpec(
        name=SHELL,
        description=(
            "Run a bash command in this turn's sandbox, in /workspace (for example "
            "`pip install PACKAGE` when the workspace's network policy allows it, `ls`, "
            "`head file.csv`). Returns the exit code and output."
        ),
        parameters={
            "type": "object",
            "properties": {"command": {"type": "string", "description": "A bash command."}},
            "required": ["command"],
        },
    ),
    ToolSpec(
        name=UPLOAD,
        description=(
            "Copy a file from the workspace's Drive into the sandbox, so code can read it. "
            "By default it lands in /workspace under its own name."
        ),
        parameters={
            "type": "object",
            "properties": {
                "drive_path": {"type": "string", "description": "Drive path, e.g. /data/q4.csv"},
                "sandbox_path": {
                    "type": "string",
                    "description": "Optional target path inside /workspace.",
                },
            },
            "required": ["drive_path"],
        },
    ),
    ToolSpec(
        name=DOWNLOAD,
        description=(
            "Save a file from the sandbox to the workspace's Drive, where the user can "
            "open it and where it outlives the turn. An existing Drive file is only "
            "overwritten when replace is true."
        ),
        parameters={
            "type": "object",
            "properties": {
                "sandbox_path": {"type": "string", "description": "Path inside /workspace."},
                "drive_path": {
                    "type": "string",
                    "description": "Drive path; ending in / keeps the file's name.",
                },
                "replace": {"type": "boolean", "default": False},
            },
            "required": ["sandbox_path", "drive_path"],
        },
    ),
]


def code_of(name: str, arguments: dict) -> tuple[str, str]:
    """(language, code) to show in the tool call's cell."""
    if name == PYTHON:
        return "python", str(arguments.get("code", ""))
    if name == SHELL:
        return "bash", str(arguments.get("command", ""))
    return "", ""


def title_of(name: str, arguments: dict) -> str:
    if name == PYTHON:
        return "Python"
    if name == SHELL:
        return "Shell"
    if name == UPLOAD:
        return f"Upload {arguments.get('drive_path', '')} to the sandbox"
    if name == DOWNLOAD:
        return f"Save {arguments.get('sandbox_path', '')} to Drive"
    if name == skill_names.LIST:
        return "Skills"
    if name == skill_names.READ:
        return f"Read {arguments.get('skill', '')}/{arguments.get('path', '')}"
    return name


# --- What the browser shows again after a reload ----------------------------------------


@dataclass
class OutputLog:
    """The tool call's output as the page shows it: consecutive chunks of one stream
    merged, text and images capped so one runaway loop cannot fill the database."""

    entries: list[dict] = field(default_factory=list)
    text_chars: int = 0
    image_bytes: int = 0
    _capped_text: bool = False

    def text(self, stream: str, text: str) -> None:
        room = SAVED_TEXT_CHARS - self.text_chars
        if room <= 0:
            if not self._capped_text:
                self._capped_text = True
                self.notice("[the saved output stops here; the model saw the full output]")
            return
        text = text[:room]
        self.text_chars += len(text)
        last = self.entries[-1] if self.entries else None
        if last and last["type"] == stream:
            last["text"] += text
        else:
            self.entries.append({"type": stream, "text": text})

    def image(self, mime: str, data: str) -> bool:
        """False when the image is over the saved size (it was still shown live)."""
        if self.image_bytes + len(data) > SAVED_IMAGE_BYTES:
            self.notice("[an image was shown but is too large to keep in the history]")
            return False
        self.image_bytes += len(data)
        self.entries.append({"type": "image", "mime": mime, "data": data})
        return True

    def file(self, path: str, url: str) -> None:
        self.entries.append({"type": "file", "path": path, "url": url})

    def notice(self, text: str) -> None:
        self.entries.append({"type": "notice", "text": text})


# --- What the model is told ----------------------------------------------------------


@dataclass
class ExecutionSummary:
    """Gathered from one execution's events, for the model."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    result: str = ""
    error: dict | None = None
    images: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def add(self, event: dict) -> None:
        kind = event.get("type")
        if kind in ("stdout", "stderr"):
            getattr(self, kind).append(event.get("text", ""))
        elif kind == "result":
            self.result = _plain_value(event.get("data"))
        elif kind == "error":
            self.error = event
        elif kind == "display":
            self._display(event.get("data") or {})
        elif kind == "status":
            self.status = event
        elif kind == "network_blocked":
            self.notices.append(event.get("message", ""))

    def _display(self, data: dict) -> None:
        mime = next((m for m in IMAGE_MIMES if m in data), None)
        if mime:
            size = png_size(data[mime]) if mime == "image/png" else None
            self.images.append(f"{mime}, {size[0]}x{size[1]} px" if size else mime)
        elif "text/plain" in data:
            self.stdout.append(str(data["text/plain"]) + "\n")


def png_size(data: str) -> tuple[int, int] | None:
    """Width and height from a base64 PNG's header, without decoding the image."""
    try:
        head = base64.b64decode(data[:32])
    except (ValueError, TypeError):
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _plain_value(data) -> str:
    if isinstance(data, dict):
        return str(data.get("text/plain", ""))
    return "" if data is None else str(data)


def execution_result(summary: ExecutionSummary, *, kind: str) -> str:
    status = summary.status.get("status", "error")
    seconds = summary.status.get("duration_ms", 0) / 1000
    lines = [f"status: {status} ({seconds:.1f} s)"]
    if kind == SHELL and summary.status.get("exit_code") is not None:
        lines.append(f"exit code: {summary.status['exit_code']}")
    _add_block(lines, "stdout", "".join(summary.stdout))
    _add_block(lines, "stderr", "".join(summary.stderr))
    if summary.result:
        _add_block(lines, "result", summary.result)
    if summary.error:
        _add_error(lines, summary.error)
    for image in summary.images:
        lines.append(f"[{image} image shown to the user]")
    if summary.files:
        lines.append("files created or changed: " + ", ".join(summary.files))
    if message := summary.status.get("message"):
        lines.append(f"note: {message}")
    lines.extend(f"note: {notice}" for notice in summary.notices if notice)
    if hint := hint_for(summary):
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def _add_block(lines: list[str], label: str, text: str) -> None:
    if not text:
        return
    lines.append(f"{label}:\n{truncate_middle(text.rstrip())}")


def truncate_middle(text: str, limit: int = MODEL_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    tail = limit - MODEL_OUTPUT_HEAD
    omitted = len(text) - limit
    return f"{text[:MODEL_OUTPUT_HEAD]}\n[... {omitted:,} characters omitted ...]\n{text[-tail:]}"


def _add_error(lines: list[str], error: dict) -> None:
    lines.append(f"error: {error.get('ename', 'Error')}: {error.get('evalue', '')}")
    traceback = [line for line in error.get("traceback", []) if line.strip()]
    if traceback:
        tail = "\n".join(traceback)[-3000:].splitlines()[-TRACEBACK_LINES:]
        lines.append("traceback (last lines):\n" + "\n".join(tail))


_MODULE = re.compile(r"No module named '([\w.]+)'")


def hint_for(summary: ExecutionSummary) -> str:
    status = summary.status.get("status")
    if status == "timeout":
        return (
            "the code hit the time limit. Work in smaller chunks: process part of the data "
            "per call (state persists between calls), or use faster methods."
        )
    if summary.notices:
        return "network access is limited by the workspace's policy; do not retry the same address."
    error = summary.error or {}
    name, value = error.get("ename", ""), str(error.get("evalue", ""))
    text = "".join(summary.stderr)
    if name == "ModuleNotFoundError" or "No module named" in text:
        match = _MODULE.search(value) or _MODULE.search(text)
        package = match.group(1).split(".")[0] if match else "PACKAGE"
        return (
            f"install it with the shell tool: `pip install {package}` (needs network access "
            "to the package index), then run the code again."
        )
    if name == "FileNotFoundError" or "No such file or directory" in text:
        return (
            f"the file is not in the sandbox. Upload it from Drive first with {UPLOAD}; "
            "files of earlier turns are gone."
        )
    return ""


def transfer_result(event: dict) -> str:
    status = event.get("status", "error")
    lines = [f"status: {status}", event.get("message", "")]
    if status != "ok" and "already exists" in event.get("message", ""):
        lines.append("hint: pass replace: true to overwrite it, or choose another drive_path.")
    elif status != "ok" and "not found" in event.get("message", "").lower():
        lines.append("hint: check the path; list Drive or /workspace files first.")
    return "\n".join(line for line in lines if line)


async def files_changed(container, marker: str = "/tmp/.turnbox-mark") -> list[str]:  # noqa: S108
    """Files under /workspace changed since the last call (docker exec: not an
    execution, so not billed)."""
    script = (
        f"if [ -e {marker} ]; then find /workspace -type f -newer {marker}; "
        "else find /workspace -type f; fi; touch " + marker
    )

    def run() -> list[str]:
        result = container.exec_run(["sh", "-c", script], user="1000:1000")
        lines = result.output.decode(errors="replace").splitlines() if result.output else []
        return sorted(lines)[:50]

    try:
        return await asyncio.to_thread(run)
    except Exception:  # a sandbox that died in the call has no files to report
        return []
