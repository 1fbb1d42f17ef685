"""Turns what the bridge reports into events a caller can trust, and a final status.

The bridge runs next to hostile code, so its events are checked here: known types
only, text and data of the right shape, output capped by the host (the bridge's own
cap is a courtesy). The final status is worded for people: what happened, in plain
words, and what survived.
"""

import re
from dataclasses import dataclass, field

from sandbox.models import Execution

STREAMS = ("stdout", "stderr")
# Images and HTML per execution; past this, displays are replaced by a notice.
MAX_DISPLAY_BYTES = 16 * 1024 * 1024
# Blocked network attempts named in the status message; the rest are counted.
MAX_BLOCKED_NAMED = 10
MAX_BLOCKED_CHARS = 300
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

RUNNING, INTERRUPTED, KILLED = "running", "interrupted", "killed"
# True of the session: callers that know it is about to end leave it out.
VARIABLES_KEPT = "Variables were kept."


def _clean_data(data) -> dict[str, str] | None:
    if not isinstance(data, dict):
        return None
    kept = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    return kept or None


def _format_limit(seconds: float) -> str:
    return f"{seconds:g} s"


@dataclass
class Outcome:
    """One execution as it streams: the kept output, and how it ended."""

    kind: str
    timeout: float
    memory_mb: int
    max_output: int
    output_bytes: int = 0
    display_bytes: int = 0
    dropped_bytes: int = 0
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    error: dict | None = None
    status: str = Execution.Status.OK
    message: str = ""
    exit_code: int | None = None
    duration_ms: int = 0

    # -- events while running ----------------------------------------------------------
    def accept(self, event: dict, phase: str) -> dict | None:
        """The event to hand on, cleaned, or None to drop it."""
        kind = event.get("type")
        if kind in STREAMS:
            return self._stream(kind, event.get("text"))
        if kind in ("display", "result"):
            return self._display(kind, event.get("data"))
        if kind == "error":
            return self._error(event, phase)
        return None

    def _stream(self, name: str, text) -> dict | None:
        if not isinstance(text, str) or not text:
            return None
        size = len(text.encode("utf-8", "replace"))
        room = self.max_output - self.output_bytes
        if size > room:
            self.dropped_bytes += size - max(room, 0)
            text = text.encode("utf-8", "replace")[: max(room, 0)].decode("utf-8", "ignore")
            if not text:
                return None
        self.output_bytes += len(text.encode("utf-8", "replace"))
        (self.stdout if name == "stdout" else self.stderr).append(text)
        return {"type": name, "text": text}

    def _display(self, kind: str, data) -> dict | None:
        data = _clean_data(data)
        if data is None:
            return None
        size = sum(len(v) for v in data.values())
        if self.display_bytes + size > MAX_DISPLAY_BYTES:
            self.dropped_bytes += size
            return None
        self.display_bytes += size
        return {"type": kind, "data": data}

    def _error(self, event: dict, phase: str) -> dict | None:
        name, value = str(event.get("ename", "")), str(event.get("evalue", ""))
        if phase != RUNNING and name == "KeyboardInterrupt":
            return None  # Our own interrupt: the timeout status says it better.
        lines = event.get("traceback")
        lines = [ANSI.sub("", str(line)) for line in lines] if isinstance(lines, list) else []
        self.error = {"ename": name, "evalue": value, "traceback": lines}
        self.status = Execution.Status.ERROR
        return {"type": "error", **self.error}

    # -- the end -----------------------------------------------------------------------
    def truncation_notice(self) -> dict | None:
        if not self.dropped_bytes:
            return None
        limit = self.max_output // 1024
        return {
            "type": "stderr",
            "text": f"\n[output truncated: {self.dropped_bytes} bytes over the {limit} KiB"
            " limit]\n",
        }

    def finish(self, report: dict, phase: str) -> None:
        """Settles status and message from the bridge's status report."""
        reported = report.get("status")
        code = report.get("exit_code")
        dropped = report.get("dropped_bytes")  # what the bridge's own cap held back
        self.dropped_bytes += dropped if isinstance(dropped, int) and dropped > 0 else 0
        self.exit_code = code if isinstance(code, int) and self.kind == "shell" else None
        if phase != RUNNING:
            self._timed_out(kernel_lost=bool(report.get("kernel_lost")) or phase == KILLED)
        elif reported == "killed":
            self._killed(report.get("reason"), code)
        elif report.get("reason") == "start":
            self.status = Execution.Status.ERROR
            detail = str(report.get("detail", ""))[:300]
            self.message = (
                f"The sandbox could not start this ({detail}). Processes left running by "
                "earlier commands may have reached the process limit."
            )
        elif reported == "error" or (self.kind == "shell" and self.exit_code):
            self.status = Execution.Status.ERROR
            if self.kind == "shell":
                self.message = f"The command exited with code {self.exit_code}."

    def _timed_out(self, kernel_lost: bool) -> None:
        self.status = Execution.Status.TIMEOUT
        limit = _format_limit(self.timeout)
        if self.kind == "shell":
            self.message = f"The command was stopped after {limit}, the time limit."
        elif kernel_lost:
            self.message = (
                f"The code was stopped after {limit}, the time limit. It did not stop when "
                "interrupted, so the Python process was restarted: variables were lost, "
                "files were kept."
            )
        else:
            self.message = f"The code was stopped after {limit}, the time limit. {VARIABLES_KEPT}"

    def _killed(self, reason, code) -> None:
        self.status = Execution.Status.KILLED
        what = "the command" if self.kind == "shell" else "the Python process"
        if reason == "oom":
            cause = f"out of memory (limit {self.memory_mb} MiB)"
        elif isinstance(code, int) and code < 0:
            cause = f"signal {-code}"
        else:
            cause = "it exited unexpectedly"
        self.message = f"{what.capitalize()} was killed: {cause}."
        if self.kind == "python":
            self.message += " Variables were lost, files were kept; Python starts afresh."

    def network_blocked(self, messages: list[str]) -> None:
        """The code tried to reach what its network policy refuses: the status says so,
        and is the one place that does (callers show it; they need not repeat the
        events). Hostile code can try thousands of addresses: a few are named."""
        distinct = list(dict.fromkeys(m[:MAX_BLOCKED_CHARS] for m in messages if m))
        named = distinct[:MAX_BLOCKED_NAMED]
        sentences = [message[:1].upper() + message[1:] + "." for message in named]
        if more := len(distinct) - len(named):
            sentences.append(f"And {more:,} more blocked {'attempt' if more == 1 else 'attempts'}.")
        self.message = " ".join([self.message, *sentences]).strip()

    def stopped(self) -> None:
        """The caller stopped the execution (a cancelled turn)."""
        self.status = Execution.Status.KILLED
        self.message = "Stopped before it finished."
        if self.kind == "python":
            self.message += " Variables were lost, files were kept."

    def sandbox_lost(self, why: str, *, out_of_memory: bool = False) -> None:
        self.status = Execution.Status.KILLED
        if out_of_memory:
            why = f"out of memory (limit {self.memory_mb} MiB)"
        self.message = (
            f"The sandbox was stopped: {why}. Variables and files were lost; "
            "the next execution starts a new sandbox."
        )

    def status_event(self) -> dict:
        # A plain str, not the model's enum: events go out as JSON and into other processes.
        event = {"type": "status", "status": str(self.status), "duration_ms": self.duration_ms}
        if self.message:
            event["message"] = self.message
        if self.exit_code is not None:
            event["exit_code"] = self.exit_code
        if self.dropped_bytes:
            event["truncated"] = True
        return event

    def record_fields(self) -> dict:
        error = self.error or {}
        return dict(
            status=self.status,
            duration_ms=self.duration_ms,
            message=self.message,
            exit_code=self.exit_code,
            error_name=error.get("ename", ""),
            error_value=error.get("evalue", ""),
            stdout="".join(self.stdout),
            stderr="".join(self.stderr),
            output_truncated=bool(self.dropped_bytes),
        )
