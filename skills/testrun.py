"""The "Test in sandbox" run: one example file of a skill, in a fresh sandbox with the
skill's other files copied into /workspace, its output streamed as it is printed.

It is an execution like any agent's: the workspace's PixelML connection must be active,
the workspace's limits apply, and the session is metered with the rest.
"""

import asyncio
import posixpath
import shlex
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async as db
from django.conf import settings

from billing.metering import gated_meter
from connections.selectors import workspace_has_active_pixelml
from drive import rules
from sandbox.aio import AsyncSession, open_session_async, own_connections
from sandbox.containers import WORKDIR
from sandbox.display import browser_event
from sandbox.selectors import sandbox_maximums
from sandbox.transfer import TransferError, copy_in
from skills.models import Skill, SkillVersion
from skills.selectors import version_contents

Emit = Callable[..., Awaitable[None]]
RUNNABLE = {".py": "python", ".sh": "shell"}
NO_PIXELML = (
    "Test runs execute code, which needs an active PixelML connection in this workspace. "
    "An admin adds one under Connections."
)
PURPOSE = "skill_test"


def runnable_paths(paths) -> list[str]:
    return [p for p in paths if posixpath.splitext(p)[1].lower() in RUNNABLE]


async def skill_test_run(
    *, skill: Skill, version: SkillVersion, path: str, user, emit: Emit
) -> str:
    """Runs ``path`` of ``version``; returns the final status. Refusals arrive as events."""
    files = await db(version_contents)(version=version)
    if path not in runnable_paths(files):
        await emit("refused", message=f"“{path}” is not a Python or shell file of this skill.")
        return "refused"
    workspace = skill.workspace
    if not await db(workspace_has_active_pixelml)(workspace=workspace):
        await emit("refused", message=NO_PIXELML)
        return "refused"
    maximums = await db(sandbox_maximums)(workspace=workspace)
    options = {"timeout": maximums.timeout_seconds, "memory_mb": maximums.memory_mb}
    await emit("starting", path=path, version=version.number)
    try:
        options["meter"] = await db(gated_meter)(workspace=workspace)
        async with open_session_async(
            workspace=workspace, started_by=user, purpose=PURPOSE, **options
        ) as session:
            await _copy_files(session, files, emit)
            return await _run(session, path, emit)
    except Exception as error:  # a refusal at open (no sandbox, no credit) in plain words
        await emit("refused", message=f"The sandbox could not run the test: {error}")
        return "refused"


async def _copy_files(session: AsyncSession, files: dict[str, bytes], emit: Emit) -> None:
    def copy() -> list[str]:
        problems = []
        container = session.session.sandbox.container
        for path, data in sorted(files.items()):
            try:
                # The Drive's rules, as for any file that enters a sandbox.
                copy_in(
                    container,
                    sandbox_path=path,
                    data=data,
                    size=len(data),
                    limit=settings.DRIVE_MAX_FILE_BYTES,
                    check=rules.check_file_type,
                )
            except TransferError as error:
                problems.append(str(error))
        return problems

    problems = await asyncio.to_thread(own_connections, copy)
    await emit("notice", text=f"Copied {len(files) - len(problems)} skill files into {WORKDIR}.")
    for problem in problems:
        await emit("notice", text=f"Not copied: {problem}")


async def _run(session: AsyncSession, path: str, emit: Emit) -> str:
    kind = RUNNABLE[posixpath.splitext(path)[1].lower()]
    # Not %run: IPython expands $name and {expr} in a magic's arguments.
    if kind == "python":
        # The trailing ";" keeps IPython from showing run_path's answer, the script's
        # whole globals dict, as the cell's result.
        events = session.python(f"import runpy\nrunpy.run_path({path!r}, run_name='__main__');")
    else:
        events = session.shell(f"bash {shlex.quote(path)}")
    status = "error"
    async for event in events:
        status = await _forward(event, emit) or status
    return status


async def _forward(event: dict, emit: Emit) -> str | None:
    if event.get("type") == "status":
        await emit(
            "finished",
            status=event.get("status", "error"),
            duration_ms=event.get("duration_ms", 0),
            message=event.get("message", ""),
        )
        return event.get("status", "error")
    # This page shows images, never HTML: HTML output arrives as its plain text.
    if (shown := browser_event(event)) is not None:
        await emit(shown.pop("type"), **shown)
    return None
