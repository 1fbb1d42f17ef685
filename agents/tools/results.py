"""What the model is told of a code tool call, and the hints for the failures models
run into most.

Results are written for a model: short, with the output it needs (truncated with a
notice), the error's last traceback lines, the files the code created, and a hint.
What the browser shows (every chunk, images) goes through agents/tools/output.py.
"""

import base64
import re
from dataclasses import dataclass, field

from agents.tools.code import SHELL, UPLOAD
from drive.images import SAVED_IMAGE_TYPES
from sandbox.display import IMAGE_MIMES

MODEL_OUTPUT_CHARS = 8_000
MODEL_OUTPUT_HEAD = 2_000
TRACEBACK_LINES = 12
MAX_IMAGE_LINES = 20


# --- What the model is told ----------------------------------------------------------


@dataclass
class Image:
    """An image the code showed, as the model is told of it."""

    mime: str
    size: tuple[int, int] | None = None
    data: str = ""  # base64, kept only while it may still be saved to Drive
    drive_path: str = ""
    not_saved: str = ""

    def line(self) -> str:
        what = f"{self.mime}, {self.size[0]}x{self.size[1]} px" if self.size else self.mime
        if self.drive_path:
            return f"[{what}, shown to the user and saved to Drive at {self.drive_path}]"
        if self.not_saved:
            return f"[{what}, shown to the user; not saved to Drive: {self.not_saved}]"
        return f"[{what} image shown to the user]"


@dataclass
class ExecutionSummary:
    """Gathered from one execution's events, for the model."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    result: str = ""
    error: dict | None = None
    images: list[Image] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    status: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # Set when the images are to be saved to Drive: their data is kept until then.
    keep_images: bool = False
    # Attempts the network policy refused: the status message names them already.
    blocked: int = 0

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
            self.blocked += 1

    def _display(self, data: dict) -> None:
        mime = next((m for m in IMAGE_MIMES if m in data), None)
        if mime:
            keep = self.keep_images and mime in SAVED_IMAGE_TYPES
            self.images.append(
                Image(mime=mime, size=image_size(mime, data[mime]), data=data[mime] if keep else "")
            )
        elif "text/plain" in data:
            self.stdout.append(str(data["text/plain"]) + "\n")


def image_size(mime: str, data: str) -> tuple[int, int] | None:
    if mime == "image/png":
        return png_size(data)
    if mime == "image/jpeg":
        return jpeg_size(data)
    return None


def png_size(data: str) -> tuple[int, int] | None:
    """Width and height from a base64 PNG's header, without decoding the image."""
    try:
        head = base64.b64decode(data[:32])
    except (ValueError, TypeError):
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def jpeg_size(data: str) -> tuple[int, int] | None:
    """Width and height from a base64 JPEG's start-of-frame marker."""
    try:
        raw = base64.b64decode(data)
    except (ValueError, TypeError):
        return None
    at = 2 if raw[:2] == b"\xff\xd8" else len(raw)
    while at + 9 <= len(raw) and raw[at] == 0xFF:
        marker, length = raw[at + 1], int.from_bytes(raw[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(raw[at + 5 : at + 7], "big")
            return int.from_bytes(raw[at + 7 : at + 9], "big"), height
        at += 2 + length
    return None


def _plain_value(data) -> str:
    if isinstance(data, dict):
        return str(data.get("text/plain", ""))
    return "" if data is None else str(data)


def execution_result(summary: ExecutionSummary, *, kind: str, network_off: str = "") -> str:
    """What the model is told. ``network_off`` names who turned the network off ("this
    workspace", "this agent") when the session has none."""
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
    lines.extend(image.line() for image in summary.images[:MAX_IMAGE_LINES])
    if (more := len(summary.images) - MAX_IMAGE_LINES) > 0:
        lines.append(f"[and {more} more images shown to the user]")
    if summary.files:
        lines.append("files created or changed: " + ", ".join(summary.files))
    _add_notes(lines, [summary.status.get("message", ""), *summary.notices])
    if hint := hint_for(summary, network_off=network_off):
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def _add_notes(lines: list[str], notes: list[str]) -> None:
    # One budget for all of them: a status can name many blocked addresses.
    text = "\n".join(f"note: {note}" for note in notes if note)
    if text:
        lines.append(truncate_middle(text))


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
# How a connection fails without a network: Python's socket errors, urllib3/requests,
# pip (which wraps those), curl and wget.
_NO_CONNECTION = re.compile(
    "|".join(
        (
            "Temporary failure in name resolution",
            "Name or service not known",
            "No address associated with hostname",
            "Could not resolve host",
            "unable to resolve host address",
            "NameResolutionError",
            "NewConnectionError",
            "Failed to establish a new connection",
            "Network is unreachable",
            # pip told not to retry (no network) reports only that it found nothing; asked
            # only of sessions without a network, where that is what it means.
            r"\(from versions: none\)",
        )
    ),
    re.IGNORECASE,
)


def connection_failed(summary: ExecutionSummary) -> bool:
    """Whether the code's output shows a connection that could not be made."""
    error = summary.error or {}
    texts = [
        str(error.get("ename", "")),
        str(error.get("evalue", "")),
        "\n".join(str(line) for line in error.get("traceback") or [])[-5000:],
        "".join(summary.stderr)[-20_000:],
        "".join(summary.stdout)[-20_000:],
    ]
    return any(_NO_CONNECTION.search(text) for text in texts)


def network_off_notice(summary: ExecutionSummary, *, network_off: str) -> str:
    """What the person is shown when code failed to connect in a session without network."""
    if not network_off or not connection_failed(summary):
        return ""
    return (
        f"Network access is off for {network_off}: its network policy blocks every "
        f"connection from the sandbox. {_network_advice(network_off)}"
    )


def _network_advice(network_off: str) -> str:
    if network_off == "this agent":
        return "A workspace admin can change that on the agent's Code Execution tab."
    return (
        "A workspace admin can allow domains, or the “Python packages” preset, on the "
        "workspace's network settings page."
    )


def hint_for(summary: ExecutionSummary, *, network_off: str = "") -> str:
    status = summary.status.get("status")
    if status == "timeout":
        return (
            "the code hit the time limit. Work in smaller chunks: process part of the data "
            "per call (state persists between calls), or use faster methods."
        )
    if summary.blocked:
        return "network access is limited by the workspace's policy; do not retry the same address."
    if network_off and connection_failed(summary):
        return (
            f"network access is blocked by {network_off}'s policy (network access is off), "
            "so code in the sandbox cannot reach the internet; do not retry. Work with files "
            f"uploaded from Drive instead. {_network_advice(network_off)}"
        )
    error = summary.error or {}
    name, value = error.get("ename", ""), str(error.get("evalue", ""))
    text = "".join(summary.stderr)
    if name == "ModuleNotFoundError" or "No module named" in text:
        match = _MODULE.search(value) or _MODULE.search(text)
        package = match.group(1).split(".")[0] if match else "PACKAGE"
        if network_off:
            return (
                f"the module {package} is not in the sandbox, and network access is off for "
                f"{network_off}, so `pip install` cannot reach the package index. Use the "
                f"installed packages instead. {_network_advice(network_off)}"
            )
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
