"""A turn's sandbox: opened at the first code tool call, closed when the turn ends.

``TurnSandbox.run_tool`` runs one code tool call, streams what the browser shows
through ``emit``, and returns what the model and the records keep.
"""

import asyncio
import base64
import binascii
import contextlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from channels.db import database_sync_to_async as db
from django.db import connections
from django.urls import reverse

from agents import tools
from agents.models import Turn
from agents.providers.base import ToolCallRequest
from agents.selectors import agent_network_policy
from agents.services import turns as services
from billing.metering import OutOfCredit, session_gate
from billing.selectors import billing_settings_of, credits_for, session_active_ms
from billing.services import budget_alerts_check
from connections.selectors import workspace_has_active_pixelml
from drive import rules
from drive.selectors import drive_file_get
from drive.services import DriveError, FileExistsInDrive, drive_file_upload
from sandbox.aio import AsyncSession, open_session_async
from sandbox.models import Execution
from sandbox.selectors import sandbox_maximums, workspace_network_policy
from sandbox.transfer import download_from_session, upload_to_session

Emit = Callable[..., Awaitable[None]]
NO_PIXELML = (
    "Code execution is not available: this workspace has no active PixelML connection. "
    "A workspace admin adds one under Connections."
)
AGENT_OFF = "Code execution is switched off for this agent."
# Names tried for one saved image: chart-…-1.png, then chart-…-1-2.png, and so on.
IMAGE_NAME_ATTEMPTS = 50


@dataclass
class ToolOutcome:
    status: str
    result: str
    message: str = ""
    log: tools.OutputLog = field(default_factory=tools.OutputLog)
    execution_id: int | None = None
    duration_ms: int | None = None


class TurnSandbox:
    def __init__(
        self, *, turn: Turn, allowed: bool, refusal: str, limits: dict, network_off: str = ""
    ):
        self.turn = turn
        self.allowed = allowed
        self.refusal = refusal
        self.limits = limits
        # Who turned the network off ("this workspace", "this agent"), or "" when it is on.
        self.network_off = network_off
        self.active_ms = 0
        self.images_saved = 0
        self._session: AsyncSession | None = None
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    def for_turn(cls, turn: Turn) -> "TurnSandbox":
        """Reads the agent's switch and the workspace's PixelML state as the turn starts."""
        agent, workspace = turn.conversation.agent, turn.conversation.workspace
        refusal = ""
        if not agent.code_execution:
            refusal = AGENT_OFF
        elif not workspace_has_active_pixelml(workspace=workspace):
            refusal = NO_PIXELML
        maximums = sandbox_maximums(workspace=workspace)
        timeout = min(agent.timeout_seconds or maximums.timeout_seconds, maximums.timeout_seconds)
        memory = min(agent.memory_mb or maximums.memory_mb, maximums.memory_mb)
        limits = {"timeout": timeout, "memory_mb": memory}
        network = agent_network_policy(agent=agent)
        if network.enabled:
            # Runs under TURNBOX_SANDBOX_NETWORK_RUNTIME; refused in plain words where that
            # is gVisor, which has no network (docs/sandbox.md).
            limits["network"] = network
        return cls(
            turn=turn,
            allowed=not refusal,
            refusal=refusal,
            limits=limits,
            network_off=_network_off(network, workspace),
        )

    async def session(self) -> AsyncSession:
        if self._session is None:
            conversation = self.turn.conversation
            opening = open_session_async(
                workspace=conversation.workspace,
                started_by=conversation.user,
                purpose="turn",
                **self.limits,
            )
            self._session = await self._stack.enter_async_context(opening)
            await db(services.turn_attach_session)(turn=self.turn, session=self._session.record)
        return self._session

    async def close(self) -> None:
        await asyncio.shield(self._stack.aclose())

    # -- tools ----------------------------------------------------------------------------
    async def run_tool(
        self, call: ToolCallRequest, *, emit: Emit, log: tools.OutputLog
    ) -> ToolOutcome:
        """``log`` collects what the browser was shown, also when the call is cancelled."""
        outcome = await self._run_tool(call, emit, log)
        outcome.log = log
        return outcome

    async def _run_tool(self, call: ToolCallRequest, emit: Emit, log) -> ToolOutcome:
        if call.arguments_error:
            return _refused(f"The arguments were not valid: {call.arguments_error}")
        if call.name not in tools.CODE_TOOLS:
            return _refused(f"There is no tool named {call.name!r}.")
        if not self.allowed:
            log.notice(self.refusal)
            await emit("notice", text=self.refusal)
            return _refused(self.refusal)
        try:
            await db(self._credit_gate)()
            session = await self.session()
        except OutOfCredit as error:
            # Said as it is: the model passes it on to the person.
            return await _notice_refusal(str(error), emit, log)
        except Exception as error:
            return await _notice_refusal(f"The sandbox could not start: {error}", emit, log)
        if call.name in (tools.PYTHON, tools.SHELL):
            outcome = await self._execute(session, call, emit, log)
        else:
            outcome = await self._transfer(session, call, emit, log)
        await self._budget_alerts(emit, log)
        return outcome

    def _credit_gate(self) -> None:
        conversation = self.turn.conversation
        session_gate(workspace=conversation.workspace, agent_id=conversation.agent_id)
        if self._session is not None and self._session.session.out_of_credit:
            raise OutOfCredit(self._session.session.out_of_credit)

    async def _budget_alerts(self, emit: Emit, log) -> None:
        """The 80 % alert of a monthly budget, once a month, where it happened."""
        conversation = self.turn.conversation
        pending = await db(_session_pending)(self._session)
        alerts = await db(budget_alerts_check)(
            workspace=conversation.workspace, agent=conversation.agent, pending=pending
        )
        for alert in alerts:
            log.notice(alert)
            await emit("notice", text=alert)

    async def _execute(self, session: AsyncSession, call: ToolCallRequest, emit: Emit, log):
        kind, key = (
            (tools.PYTHON, "code") if call.name == tools.PYTHON else (tools.SHELL, "command")
        )
        source = call.arguments.get(key)
        if not isinstance(source, str) or not source.strip():
            return _refused(f"{call.name} needs a non-empty {key!r} string.")
        folder = call.arguments.get("save_images_to") if kind == tools.PYTHON else None
        summary = tools.ExecutionSummary(keep_images=folder is not None)
        outcome = ToolOutcome(status="error", result="", log=log)
        run = session.python if kind == tools.PYTHON else session.shell
        try:
            async for event in run(source):
                summary.add(event)
                await _show(event, outcome.log, emit)
        finally:
            self.active_ms += summary.status.get("duration_ms", 0)
        if not session.session.closed:  # closed when its credit ran out
            summary.files = await tools.files_changed(session.session.sandbox.container)
        if folder is not None:
            await self._save_images(summary, folder, emit, log)
        return await self._finish(outcome, summary, kind, session, emit)

    async def _finish(self, outcome, summary, kind, session, emit: Emit) -> ToolOutcome:
        status = summary.status
        outcome.status = status.get("status", "error")
        outcome.message = status.get("message", "")
        outcome.duration_ms = status.get("duration_ms")
        outcome.result = tools.execution_result(summary, kind=kind, network_off=self.network_off)
        if notice := tools.network_off_notice(summary, network_off=self.network_off):
            outcome.log.notice(notice)
            await emit("notice", text=notice)
        # The one place blocked network attempts are told: the status message names them.
        if outcome.message:  # shown live with tool_finished; kept for the history
            outcome.log.notice(outcome.message)
        outcome.execution_id = await db(_last_execution)(session.record.pk)
        return outcome

    async def _transfer(self, session: AsyncSession, call: ToolCallRequest, emit: Emit, log):
        args, workspace = call.arguments, self.turn.conversation.workspace
        if call.name == tools.UPLOAD:
            missing = [k for k in ("drive_path",) if not isinstance(args.get(k), str)]
        else:
            missing = [
                k for k in ("sandbox_path", "drive_path") if not isinstance(args.get(k), str)
            ]
        if missing:
            return _refused(f"{call.name} needs {', '.join(missing)} (a string).")
        event = await asyncio.to_thread(_own_connections, self._transfer_sync, session, call)
        self.active_ms += event.get("duration_ms", 0)
        outcome = ToolOutcome(
            status=event.get("status", "error"),
            result=tools.transfer_result(event),
            message=event.get("message", ""),
            duration_ms=event.get("duration_ms"),
            log=log,
        )
        outcome.log.notice(outcome.message)
        await emit("notice", text=outcome.message)
        if call.name == tools.DOWNLOAD and outcome.status == "ok":
            url = await db(_drive_url)(workspace, event["path"])
            outcome.log.file(event["path"], url)
            await emit("file", path=event["path"], url=url)
        outcome.execution_id = await db(_last_execution)(session.record.pk)
        return outcome

    # -- images to Drive ------------------------------------------------------------------
    async def _save_images(self, summary: tools.ExecutionSummary, folder, emit: Emit, log):
        """Saves the PNG and JPEG images the code showed in a Drive folder, each under a
        new name; the model is told each one's path, or why it was not saved."""
        try:
            folder = rules.normalize_folder(folder)
        except rules.PathError as error:
            for image in summary.images:
                image.data = ""
            message = f"The images were not saved: save_images_to is not a Drive folder ({error})"
            summary.notices.append(message)
            await _notice(message, emit, log)
            return
        if not summary.images:
            summary.notices.append(f"The code showed no image, so nothing was saved to {folder}.")
            return
        refusals: list[str] = []
        tried = 0
        for image in summary.images:
            if reason := _unsavable(image, tried):
                image.not_saved = reason
            else:
                tried += 1
                await self._save_image(image, folder, emit, log)
            image.data = ""
            if image.not_saved and image.not_saved not in refusals:
                refusals.append(image.not_saved)
        for reason in refusals:
            await _notice(f"An image was not saved to Drive: {reason}", emit, log)

    async def _save_image(self, image: tools.Image, folder: str, emit: Emit, log) -> None:
        self.images_saved += 1  # numbered through the turn: names stay unique across calls
        stem = f"{folder}chart-{self.turn.pk.hex[:8]}-{self.images_saved}"
        extension = tools.SAVED_IMAGE_TYPES[image.mime]
        try:
            saved = await asyncio.to_thread(
                _own_connections, self._store_image, image, stem, extension
            )
        except DriveError as error:
            image.not_saved = str(error).rstrip(".")
            return
        except Exception as error:  # storage or database trouble: the turn goes on
            image.not_saved = f"Drive could not store it ({type(error).__name__})"
            return
        image.drive_path = saved.path
        url = _file_url(self.turn.conversation.workspace, saved)
        log.file(saved.path, url)
        await emit("file", path=saved.path, url=url)

    def _store_image(self, image: tools.Image, stem: str, extension: str):
        conversation = self.turn.conversation
        try:
            content = base64.b64decode("".join(image.data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise DriveError("the image's data is not valid base64") from None
        for attempt in range(1, IMAGE_NAME_ATTEMPTS + 1):
            path = f"{stem}.{extension}" if attempt == 1 else f"{stem}-{attempt}.{extension}"
            try:  # refused before anything is stored when the name is taken
                return drive_file_upload(
                    workspace=conversation.workspace,
                    path=path,
                    content=io.BytesIO(content),
                    uploaded_by=conversation.user,
                )
            except FileExistsInDrive:
                continue
        raise DriveError(f"every name like {stem}.{extension} is taken")

    def _transfer_sync(self, session: AsyncSession, call: ToolCallRequest) -> dict:
        args, conversation = call.arguments, self.turn.conversation
        if call.name == tools.UPLOAD:
            return upload_to_session(
                session.session,
                workspace=conversation.workspace,
                drive_path=args["drive_path"],
                sandbox_path=args.get("sandbox_path") or None,
            )
        return download_from_session(
            session.session,
            workspace=conversation.workspace,
            sandbox_path=args["sandbox_path"],
            drive_path=args["drive_path"],
            replace=args.get("replace") is True,
            user=conversation.user,
        )


async def _notice_refusal(message: str, emit: Emit, log) -> ToolOutcome:
    await _notice(message, emit, log)
    return _refused(message)


async def _notice(message: str, emit: Emit, log) -> None:
    log.notice(message)
    await emit("notice", text=message)


def _network_off(network, workspace) -> str:
    """Who took the session's network away, for the hints; "" when it has one."""
    if network.enabled:
        return ""
    if workspace_network_policy(workspace=workspace).enabled:
        return "this agent"
    return "this workspace"


def _unsavable(image: tools.Image, tried: int) -> str:
    if image.mime not in tools.SAVED_IMAGE_TYPES:
        return "only PNG and JPEG images are saved (SVG can carry script)"
    if tried >= tools.MAX_SAVED_IMAGES:
        return f"at most {tools.MAX_SAVED_IMAGES} images are saved per call"
    return ""


def _session_pending(session: AsyncSession | None):
    """Credits the open session has used and not been charged yet."""
    if session is None or session.session.closed:
        return Decimal("0")
    record = session.record
    rate = billing_settings_of(workspace=record.workspace).credits_per_second
    return credits_for(active_ms=session_active_ms(session=record), rate=rate)


def _refused(message: str) -> ToolOutcome:
    return ToolOutcome(status="error", result=f"status: error\n{message}", message=message)


async def _show(event: dict, log: tools.OutputLog, emit: Emit) -> None:
    """Forwards one sandbox event to the browser and keeps it for the history."""
    kind = event.get("type")
    if kind in ("stdout", "stderr"):
        log.text(kind, event.get("text", ""))
        await emit(kind, text=event.get("text", ""))
    elif kind == "error":
        text = "\n".join(event.get("traceback") or [f"{event.get('ename')}: {event.get('evalue')}"])
        log.text("stderr", text + "\n")
        await emit("stderr", text=text + "\n")
    elif kind in ("display", "result"):
        await _show_display(event.get("data") or {}, log, emit)
    # network_blocked events are not shown one by one: hostile code can cause thousands,
    # and the execution's status message names them (see _finish).


async def _show_display(data: dict, log: tools.OutputLog, emit: Emit) -> None:
    if not isinstance(data, dict):
        data = {"text/plain": str(data)}
    mime = next((m for m in tools.IMAGE_MIMES if m in data), None)
    if mime:
        log.image(mime, data[mime])
        await emit("display", mime=mime, data=data[mime])
    elif "text/html" in data:
        await emit("display", mime="text/html", data=data["text/html"])
        log.text("stdout", str(data.get("text/plain", "")) + "\n")
    elif "text/plain" in data:
        text = str(data["text/plain"]) + "\n"
        log.text("stdout", text)
        await emit("stdout", text=text)


def _last_execution(session_id) -> int | None:
    return (
        Execution.objects.filter(session_id=session_id)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def _drive_url(workspace, path: str) -> str:
    return _file_url(workspace, drive_file_get(workspace=workspace, path=path))


def _file_url(workspace, drive_file) -> str:
    return reverse("drive:download", kwargs={"ws": workspace.slug, "pk": drive_file.pk})


def _own_connections(function, *args):
    try:
        return function(*args)
    finally:
        connections.close_all()
