import base64
import binascii
import json

import requests
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from docker.errors import DockerException

from sandbox.containers import SandboxUnavailable
from sandbox.network import PRESETS, Mode, NetworkPolicy
from sandbox.session import open_session

RUNTIMES = ("runc", "runsc")
# Rich output that travels as base64: its size is that of the decoded bytes.
BASE64_TYPES = ("image/png", "image/jpeg")


class Command(BaseCommand):
    help = (
        "Runs code in one fresh sandbox session and prints the events as they happen. Each "
        "--code runs in order in the same session, so variables and files carry over. Exits "
        "0 whenever the sandbox ran, even if the code failed or timed out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--code",
            action="append",
            required=True,
            metavar="CODE",
            help="Python code (a bash command with --shell); repeat to run several in order.",
        )
        parser.add_argument(
            "--shell", action="store_true", help="Run each CODE with bash in /workspace."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print each event as one JSON object per line.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="S",
            help="Time limit per CODE, in seconds (default: TURNBOX_SANDBOX_TIMEOUT_SECONDS).",
        )
        parser.add_argument(
            "--runtime",
            choices=RUNTIMES,
            help="Default: TURNBOX_SANDBOX_RUNTIME; with a network, "
            "TURNBOX_SANDBOX_NETWORK_RUNTIME.",
        )
        parser.add_argument(
            "--network",
            choices=[str(mode) for mode in Mode],
            help="Network policy: none (the default), allowlist (--allow, --allow-preset) or "
            "open. Private and link-local addresses are refused under every policy.",
        )
        parser.add_argument(
            "--allow",
            action="append",
            default=[],
            metavar="DOMAIN",
            help="A domain the allowlist allows: pypi.org, *.example.org, example.org:8443. "
            "Repeatable; implies --network allowlist.",
        )
        parser.add_argument(
            "--allow-preset",
            action="append",
            default=[],
            choices=list(PRESETS),
            help="Domains of a preset (python-packages: the package index); repeatable.",
        )

    def handle(self, *args, code, shell, as_json, timeout, runtime, **options) -> None:
        if timeout is not None and timeout <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        network = network_policy(options["network"], options["allow"], options["allow_preset"])
        show = self._show_json if as_json else HumanOutput(self.stdout, self.stderr)
        # One session and the process ends: a warm pool would start containers nobody uses.
        with override_settings(TURNBOX_SANDBOX_POOL_SIZE=0):
            try:
                self._run(
                    code, shell=shell, timeout=timeout, runtime=runtime, network=network, show=show
                )
            except SandboxUnavailable as error:
                raise CommandError(str(error)) from None
            except (DockerException, requests.exceptions.RequestException) as error:
                raise CommandError(f"Docker is not reachable: {error}") from None

    def _run(self, codes: list[str], *, shell: bool, timeout, runtime, network, show) -> None:
        with open_session(
            purpose="sandbox_run", runtime=runtime, timeout=timeout, network=network
        ) as session:
            for code in codes:
                events = session.shell(code) if shell else session.python(code)
                for event in events:
                    show(event)

    def _show_json(self, event: dict) -> None:
        self.stdout.write(json.dumps(event))
        self.stdout.flush()


def network_policy(mode: str | None, allow: list[str], presets: list[str]) -> NetworkPolicy:
    if mode in (None, Mode.ALLOWLIST) and (allow or presets):
        try:
            return NetworkPolicy.allowlist(allow, presets=presets)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
    if allow or presets:
        raise CommandError(f"--allow and --allow-preset make an allowlist, not --network {mode}.")
    if mode == Mode.ALLOWLIST:
        raise CommandError("--network allowlist needs --allow DOMAIN or --allow-preset NAME.")
    return NetworkPolicy.open() if mode == Mode.OPEN else NetworkPolicy.none()


class HumanOutput:
    """Events for people: the code's output on its own stream, rich output summed up in
    one line, and each status on stderr so that stdout holds only what the code made."""

    def __init__(self, stdout, stderr):
        self.streams = {"stdout": stdout, "stderr": stderr}
        # The stream whose last line has no newline yet; a status line must not join it.
        self.open_line: str | None = None

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind in self.streams:
            self._write(kind, event["text"])
        elif kind in ("display", "result"):
            self._line("stdout", rich_text(kind, event["data"]))
        elif kind == "error":
            self._line(
                "stderr", "\n".join(event["traceback"]) or f"{event['ename']}: {event['evalue']}"
            )
        elif kind == "status":
            self._line("stderr", status_text(event))

    def _line(self, name: str, text: str) -> None:
        if self.open_line:
            self._write(self.open_line, "\n")
        self._write(name, text if text.endswith("\n") else text + "\n")

    def _write(self, name: str, text: str) -> None:
        stream = self.streams[name]
        stream.write(text, style_func=_plain, ending="")
        stream.flush()
        self.open_line = None if text.endswith("\n") else name


def rich_text(kind: str, data: dict[str, str]) -> str:
    """A result's text/plain; for other rich output, what it is and how big."""
    mimetype = next((m for m in data if m != "text/plain"), None)
    if "text/plain" in data and (kind == "result" or mimetype is None):
        return data["text/plain"]
    return f"[{kind}: {mimetype}, {_size_text(_size(mimetype, data[mimetype]))}]"


def _size(mimetype: str, value: str) -> int:
    if mimetype in BASE64_TYPES:
        try:
            return len(base64.b64decode(value))
        except (binascii.Error, ValueError):
            pass
    return len(value.encode("utf-8", "replace"))


def _size_text(size: int) -> str:
    return f"{size} bytes" if size < 1024 else f"{size / 1024:.0f} KB"


def status_text(event: dict) -> str:
    text = f"{event['status']} {event['duration_ms']} ms"
    if message := event.get("message"):
        text += f": {message}"
    return f"[{text}]"


def _plain(text: str) -> str:
    # The code's own output is shown as it is, never coloured as a command error.
    return text
