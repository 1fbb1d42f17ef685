"""The upload and download tools: a Drive file into the turn's sandbox, a sandbox file
to Drive (an existing Drive file is replaced only when asked).

The Docker side, with its path and link safety, is sandbox/transfer.py; here are the
Drive's side and its rules: its file-type allowlist and size limit hold both ways.
"""

import asyncio
import io
import posixpath

from channels.db import database_sync_to_async as db
from django.conf import settings
from django.http import Http404

from agents.tools.code import DOWNLOAD, UPLOAD
from agents.tools.execute import drive_file_url
from agents.tools.results import transfer_result
from agents.tools.types import ToolCallRequest, ToolOutcome, ToolRun, refused
from drive import rules
from drive.selectors import drive_file_exists, drive_file_get, drive_file_open
from drive.services import DriveError, FileExistsInDrive, drive_file_upload
from sandbox.aio import AsyncSession, own_connections
from sandbox.containers import WORKDIR
from sandbox.models import Execution
from sandbox.session import Session
from sandbox.transfer import (
    TransferError,
    copy_in,
    copy_out,
    human_size,
    sandbox_path_of,
    transfer_recorded,
)
from workspaces.models import User, Workspace

# --- The tools ---------------------------------------------------------------------


async def transfer(call: ToolCallRequest, run: ToolRun) -> ToolOutcome:
    needed = ("drive_path",) if call.name == UPLOAD else ("sandbox_path", "drive_path")
    if missing := [key for key in needed if not isinstance(call.arguments.get(key), str)]:
        return refused(f"{call.name} needs {', '.join(missing)} (a string).")
    return await run.sandbox.use(run, lambda session: _transfer(session, call, run))


async def _transfer(session: AsyncSession, call: ToolCallRequest, run: ToolRun) -> ToolOutcome:
    workspace = run.turn.conversation.workspace
    event = await asyncio.to_thread(own_connections, _transfer_sync, session, call, run)
    run.sandbox.active_ms += event.get("duration_ms", 0)
    outcome = ToolOutcome(
        status=event.get("status", "error"),
        result=transfer_result(event),
        message=event.get("message", ""),
        duration_ms=event.get("duration_ms"),
        log=run.log,
    )
    await run.notice(outcome.message)
    if call.name == DOWNLOAD and outcome.status == "ok":
        url = await db(_drive_url)(workspace, event["path"])
        outcome.log.file(event["path"], url)
        await run.emit("file", path=event["path"], url=url)
    outcome.execution_id = await run.sandbox.last_execution_id()
    return outcome


def _transfer_sync(session: AsyncSession, call: ToolCallRequest, run: ToolRun) -> dict:
    args, conversation = call.arguments, run.turn.conversation
    if call.name == UPLOAD:
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
        # A person types Direct mode's commands; a model passes arguments.
        how_to_replace=DIRECT_REPLACE if conversation.agent.is_direct else TOOL_REPLACE,
    )


def _drive_url(workspace, path: str) -> str:
    return drive_file_url(workspace, drive_file_get(workspace=workspace, path=path))


# --- Between Drive and a session ----------------------------------------------------


def upload_to_session(
    session: Session, *, workspace: Workspace, drive_path: str, sandbox_path: str | None = None
) -> dict:
    """Copies a Drive file of ``workspace`` into the session's /workspace (by default
    under its own name); returns a status event. Refusals are error statuses."""
    default = f"{WORKDIR}/{posixpath.basename(str(drive_path))}"
    source = f"{drive_path} -> {sandbox_path or default}"
    with _recorded(session, workspace, Execution.Kind.UPLOAD, source) as transfer:
        drive_file = _drive_file(workspace, drive_path)
        transfer.event["path"] = target = sandbox_path or f"{WORKDIR}/{drive_file.name}"
        with drive_file_open(drive_file=drive_file) as content:
            path = copy_in(
                session.sandbox.container,
                sandbox_path=target,
                data=content,
                size=drive_file.size,
                limit=settings.DRIVE_MAX_FILE_BYTES,
                check=rules.check_file_type,
            )
        size = drive_file.size
        transfer.done(
            f"Copied {drive_file.path} from Drive to {path} ({human_size(size)}).",
            path=path,
            size=size,
        )
    return transfer.event


def download_from_session(
    session: Session,
    *,
    workspace: Workspace,
    sandbox_path: str,
    drive_path: str,
    replace: bool = False,
    user: User | None = None,
    how_to_replace: str = "",
) -> dict:
    """Stores a file of the session's /workspace in the Drive of ``workspace`` (a path
    ending in "/" keeps the file's name); returns a status event."""
    label = f"{sandbox_path} -> {drive_path}"
    with _recorded(session, workspace, Execution.Kind.DOWNLOAD, label) as transfer:
        source = sandbox_path_of(sandbox_path)
        transfer.event["path"] = target = _drive_target(drive_path, source)
        # Before reading the file out: an existing file is refused anyway.
        if not replace and drive_file_exists(workspace=workspace, path=target):
            raise _exists(target, how_to_replace)
        _, content = copy_out(
            session.sandbox.container,
            sandbox_path=source,
            limit=settings.DRIVE_MAX_FILE_BYTES,
            check=rules.check_file_type,
        )
        try:
            drive_file = drive_file_upload(
                workspace=workspace,
                path=target,
                content=io.BytesIO(content),
                uploaded_by=user,
                replace=replace,
            )
        except FileExistsInDrive:
            raise _exists(target, how_to_replace) from None
        transfer.done(
            f"Copied {source} to Drive as {target} ({human_size(drive_file.size)}).",
            path=target,
            size=drive_file.size,
        )
    return transfer.event


def _recorded(session: Session, workspace: Workspace, kind: str, source: str):
    # Drive's refusals are said like the sandbox's: as the transfer's error status.
    return transfer_recorded(
        session, workspace=workspace, kind=kind, source=source, refusals=(DriveError,)
    )


def _drive_file(workspace: Workspace, drive_path: str):
    try:
        return drive_file_get(workspace=workspace, path=drive_path)
    except Http404:
        raise TransferError(f"no such file in Drive: {drive_path}") from None


def _drive_target(drive_path: str, source: str) -> str:
    if isinstance(drive_path, str) and drive_path.endswith("/"):
        drive_path += posixpath.basename(source)
    try:
        return rules.normalize_path(drive_path)
    except rules.PathError as error:
        raise TransferError(f"{drive_path}: {error}") from None


TOOL_REPLACE = "pass replace=true to replace it"
DIRECT_REPLACE = "add --replace to the /download line to replace it"


def _exists(path: str, how_to_replace: str) -> TransferError:
    return TransferError(
        f"{path}: a file already exists at this Drive path; {how_to_replace or TOOL_REPLACE}."
    )
