"""The workspace's live usage websocket (docs/agents.md): the dashboard's balance,
today's usage and burn rate, sent on connect and after every ledger entry."""

import asyncio

from channels.db import database_sync_to_async as db
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from billing import live, reports
from workspaces.sockets import REFUSED, socket_membership_async


class UsageConsumer(AsyncJsonWebsocketConsumer):
    workspace = None

    async def connect(self) -> None:
        # Every role sees the figures, as on the dashboard.
        membership = await socket_membership_async(self.scope)
        if membership is None:
            # Same answer for "no such workspace" and "not a member": nothing to probe.
            await self.close(code=REFUSED)
            return
        self.workspace = membership.workspace
        live.server_loop_remember(asyncio.get_running_loop())
        await self.channel_layer.group_add(live.group_name(self.workspace.pk), self.channel_name)
        await self.accept()
        await self.send_json(await db(reports.usage_snapshot)(workspace=self.workspace))

    async def disconnect(self, code: int) -> None:
        if self.workspace is not None:
            group = live.group_name(self.workspace.pk)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"type": "error", "message": "This socket only sends figures."})

    async def usage_update(self, message: dict) -> None:
        still = await socket_membership_async(self.scope, workspace_id=self.workspace.pk)
        if still is None:
            # The socket outlived the person's membership: the figures stop with it.
            await self.channel_layer.group_discard(
                live.group_name(self.workspace.pk), self.channel_name
            )
            await self.close(code=REFUSED)
            return
        await self.send_json(message["event"])
