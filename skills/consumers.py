"""The test-run websocket of a skill, for the workspace's admins (docs/skills.md).

    ws(s)://HOST/ws/w/<workspace-slug>/skills/<skill-id>/test/

The browser sends ``{"type": "run", "path": "examples/x.py"}`` (optionally
``"version": N``); the server answers with ``starting``, ``stdout``/``stderr``,
``display``, ``notice``, then ``finished`` (or ``refused``). Closing the socket stops the
run and removes its sandbox.
"""

import asyncio
import contextlib

from channels.db import database_sync_to_async as db
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from sandbox.models import SandboxSession
from skills.models import Skill, SkillVersion
from skills.selectors import skill_latest_version
from skills.testrun import PURPOSE, skill_test_run
from workspaces.models import Role, Workspace
from workspaces.sockets import REFUSED, socket_membership, socket_membership_async

# Each run holds a sandbox at the workspace's maximum time and memory.
RUNS_PER_PERSON = 2
# Only admins test skills, as only admins manage them.
TEST_ROLES = (Role.ADMIN,)


def _skill_of_workspace(workspace: Workspace, pk: int) -> Skill | None:
    return Skill.objects.select_related("workspace").filter(pk=pk, workspace=workspace).first()


def _version(skill: Skill, number) -> SkillVersion | None:
    if number is None:
        return skill_latest_version(skill=skill)
    if not isinstance(number, int):
        return None
    return skill.versions.filter(number=number).first()


def _refusal(scope, skill: Skill) -> str:
    """Why the socket's user may not start a run now: no longer an admin (the socket
    outlived the role), or as many runs going as one person may have, across all their
    sockets."""
    if socket_membership(scope, roles=TEST_ROLES, workspace_id=skill.workspace_id) is None:
        return "Only the workspace's admins test skills."
    user = scope["user"]
    running = SandboxSession.objects.filter(
        started_by=user, purpose=PURPOSE, status=SandboxSession.Status.OPEN
    ).count()
    if running >= RUNS_PER_PERSON:
        return f"You have {running} test runs going; wait for one to end."
    return ""


class SkillTestConsumer(AsyncJsonWebsocketConsumer):
    skill = None
    task: asyncio.Task | None = None

    async def connect(self) -> None:
        membership = await socket_membership_async(self.scope, roles=TEST_ROLES)
        if membership is not None:
            self.skill = await db(_skill_of_workspace)(
                membership.workspace, self.scope["url_route"]["kwargs"]["pk"]
            )
        if self.skill is None:
            # Same answer for "no such skill", "not yours" and "not an admin".
            await self.close(code=REFUSED)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "run":
            await self._event("refused", message="Unknown request.")
            return
        if self.task is not None and not self.task.done():
            await self._event("refused", message="A test is already running; wait for it.")
            return
        refusal = await db(_refusal)(self.scope, self.skill)
        if refusal:
            await self._event("refused", message=refusal)
            return
        path = content.get("path")
        version = await db(_version)(self.skill, content.get("version"))
        if not isinstance(path, str) or version is None:
            await self._event("refused", message="Choose an example file of the skill.")
            return
        self.task = asyncio.ensure_future(self._run(version, path))

    async def _run(self, version: SkillVersion, path: str) -> None:
        await skill_test_run(
            skill=self.skill,
            version=version,
            path=path,
            user=self.scope["user"],
            emit=self._event,
        )

    async def _event(self, event_type: str, **fields) -> None:
        await self.send_json({"type": event_type, **fields})
