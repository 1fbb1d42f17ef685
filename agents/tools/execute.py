"""The Python and shell tools: run code in the turn's sandbox, stream what it shows to
the browser, tell the model the result, and on request keep the images it showed in
the workspace's Drive."""

import asyncio

from django.urls import reverse

from agents.tools import results
from agents.tools.code import PYTHON
from agents.tools.output import show
from agents.tools.types import ToolCallRequest, ToolOutcome, ToolRun, refused
from drive import rules
from drive.images import SAVED_IMAGE_TYPES, drive_image_save
from drive.services import DriveError
from sandbox.aio import AsyncSession, own_connections
from sandbox.outcome import VARIABLES_KEPT

MAX_SAVED_IMAGES = 20  # per call: a runaway loop of plt.show() must not fill the Drive


async def run_code(call: ToolCallRequest, run: ToolRun) -> ToolOutcome:
    key = "code" if call.name == PYTHON else "command"
    source = call.arguments.get(key)
    if not isinstance(source, str) or not source.strip():
        return refused(f"{call.name} needs a non-empty {key!r} string.")
    return await run.sandbox.use(run, lambda session: _execute(session, call, source, run))


async def _execute(session: AsyncSession, call: ToolCallRequest, source: str, run: ToolRun):
    sandbox = run.sandbox
    folder = call.arguments.get("save_images_to") if call.name == PYTHON else None
    summary = results.ExecutionSummary(keep_images=folder is not None)
    outcome = ToolOutcome(status="error", result="", log=run.log)
    execute = session.python if call.name == PYTHON else session.shell
    try:
        async for event in execute(source):
            summary.add(event)
            await show(event, run.log, run.emit)
    finally:
        sandbox.active_ms += summary.status.get("duration_ms", 0)
    if not session.session.closed:  # closed when its credit ran out
        summary.files = await files_changed(session.session.sandbox)
    if folder is not None:
        await _save_images(summary, folder, run)
    return await _finish(outcome, summary, call.name, run)


async def _finish(outcome: ToolOutcome, summary, kind: str, run: ToolRun) -> ToolOutcome:
    network_off = run.sandbox.network_off
    status = summary.status
    outcome.status = status.get("status", "error")
    # The model is told the variables were kept (the result below): it may run more
    # code in this sandbox. The person's cell is read when the turn, and its sandbox,
    # may be over: it says what happened and nothing that may no longer be true.
    outcome.message = status.get("message", "").replace(VARIABLES_KEPT, "").strip()
    outcome.duration_ms = status.get("duration_ms")
    outcome.result = results.execution_result(summary, kind=kind, network_off=network_off)
    if notice := results.network_off_notice(summary, network_off=network_off):
        # Above the output: the installer's own error below it may be long.
        await run.notice(notice, first=True)
    # The one place blocked network attempts are told: the status message names them.
    if outcome.message:  # shown live with tool_finished; kept for the history
        outcome.log.notice(outcome.message)
    outcome.execution_id = await run.sandbox.last_execution_id()
    return outcome


# --- Images to Drive -----------------------------------------------------------------


async def _save_images(summary: results.ExecutionSummary, folder, run: ToolRun) -> None:
    """Saves the PNG and JPEG images the code showed in a Drive folder, each under a
    new name; the model is told each one's path, or why it was not saved."""
    try:
        folder = rules.normalize_folder(folder)
    except rules.PathError as error:
        for image in summary.images:
            image.data = ""
        message = f"The images were not saved: save_images_to is not a Drive folder ({error})"
        summary.notices.append(message)
        await run.notice(message)
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
            await _save_image(image, folder, run)
        image.data = ""
        if image.not_saved and image.not_saved not in refusals:
            refusals.append(image.not_saved)
    for reason in refusals:
        await run.notice(f"An image was not saved to Drive: {reason}")


async def _save_image(image: results.Image, folder: str, run: ToolRun) -> None:
    sandbox, conversation = run.sandbox, run.turn.conversation
    sandbox.images_saved += 1  # numbered through the turn: names stay unique across calls
    stem = f"chart-{run.turn.pk.hex[:8]}-{sandbox.images_saved}"
    try:
        saved = await asyncio.to_thread(
            own_connections,
            drive_image_save,
            workspace=conversation.workspace,
            folder=folder,
            stem=stem,
            mime=image.mime,
            data=image.data,
            uploaded_by=conversation.user,
        )
    except DriveError as error:
        image.not_saved = str(error).rstrip(".")
        return
    except Exception as error:  # storage or database trouble: the turn goes on
        image.not_saved = f"Drive could not store it ({type(error).__name__})"
        return
    image.drive_path = saved.path
    url = drive_file_url(conversation.workspace, saved)
    run.log.file(saved.path, url)
    await run.emit("file", path=saved.path, url=url)


def _unsavable(image: results.Image, tried: int) -> str:
    if image.mime not in SAVED_IMAGE_TYPES:
        return "only PNG and JPEG images are saved (SVG can carry script)"
    if tried >= MAX_SAVED_IMAGES:
        return f"at most {MAX_SAVED_IMAGES} images are saved per call"
    return ""


def drive_file_url(workspace, drive_file) -> str:
    return reverse("drive:download", kwargs={"ws": workspace.slug, "pk": drive_file.pk})


# --- Files the code left -------------------------------------------------------------


async def files_changed(sandbox, marker: str = "/tmp/.turnbox-mark") -> list[str]:  # noqa: S108
    """Files under /workspace changed since the last call (docker exec: not an
    execution, so not billed). The sandbox is held unfrozen meanwhile: a freeze would
    stop the listing half-way and the call would never return."""
    script = (
        f"if [ -e {marker} ]; then find /workspace -type f -newer {marker}; "
        "else find /workspace -type f; fi; touch " + marker
    )

    def run() -> list[str]:
        with sandbox.held():
            result = sandbox.container.exec_run(["sh", "-c", script], user="1000:1000")
        lines = result.output.decode(errors="replace").splitlines() if result.output else []
        return sorted(lines)[:50]

    try:
        return await asyncio.to_thread(run)
    except Exception:  # a sandbox that died in the call has no files to report
        return []
