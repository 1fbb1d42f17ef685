"""The conversation websocket (protocol: docs/agents.md)."""

import contextlib
import uuid

from channels.db import database_sync_to_async as db
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from agents import runner
from agents.events import LAYER_ERRORS, group_name
from agents.models import Turn
from agents.selectors import PLAYGROUND_ROLES, conversation_of_owner, running_turn
from agents.services import turns as services
from agents.socket_layer import LayerReceiver
from workspaces.sockets import REFUSED, socket_membership_async

# Events at which a socket's access is checked again: where a turn or a tool call
# begins, so a socket that lost access stops seeing output without a query per chunk.
RECHECKED_EVENTS = ("turn_started", "tool_started")


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    conversation = None
    started: set
    refused = False

    # channels sets this to the layer's receive as the socket opens; it is read through a
    # receiver that outlasts a Redis restart instead of closing the socket (1011).
    @property
    def channel_receive(self) -> LayerReceiver:
        return self._receiver

    @channel_receive.setter
    def channel_receive(self, receive) -> None:
        self._receiver = LayerReceiver(receive, rejoin=self._rejoin)

    async def _rejoin(self) -> None:
        if self.conversation is not None and not self.refused:
            await self.channel_layer.group_add(group_name(self.conversation.pk), self.channel_name)

    async def connect(self) -> None:
        self.started = set()
        membership = await socket_membership_async(self.scope, roles=PLAYGROUND_ROLES)
        if membership is not None:
            self.conversation = await db(conversation_of_owner)(
                workspace=membership.workspace,
                user=self.scope["user"],
                pk=self.scope["url_route"]["kwargs"]["pk"],
            )
        if self.conversation is None:
            # Same answer for "no such conversation" and "not yours": nothing to probe.
            await self.close(code=REFUSED)
            return
        await self.channel_layer.group_add(group_name(self.conversation.pk), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.conversation is None:
            return
        # Redis may be down: the group's entry expires by itself; the stops below matter.
        with contextlib.suppress(*LAYER_ERRORS):
            await self.channel_layer.group_discard(
                group_name(self.conversation.pk), self.channel_name
            )
        # A turn this socket started stops with it: nobody is left to watch it run.
        for turn_id in self.started:
            await db(_request_stop)(turn_id, Turn.Status.DISCONNECTED)
            runner.turn_cancel_local(turn_id)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("send", "stop") and not await self._still_allowed():
            await self._refuse()
            return
        if kind == "send":
            await self._send_message(content.get("text"))
        elif kind == "stop":
            await self._stop()
        else:
            await self.send_json({"type": "error", "message": "Unknown request."})

    async def _still_allowed(self) -> bool:
        membership = await socket_membership_async(
            self.scope, roles=PLAYGROUND_ROLES, workspace_id=self.conversation.workspace_id
        )
        return membership is not None

    async def _refuse(self) -> None:
        """The socket outlived the person's access: it hears nothing more, and closing
        it also stops the turns it started."""
        self.refused = True
        with contextlib.suppress(*LAYER_ERRORS):  # Redis away: closing is what matters
            await self.channel_layer.group_discard(
                group_name(self.conversation.pk), self.channel_name
            )
        await self.close(code=REFUSED)

    async def _send_message(self, text) -> None:
        if not isinstance(text, str):
            await self.send_json({"type": "error", "message": "Type a message first."})
            return
        try:
            turn = await db(services.turn_create)(conversation=self.conversation, text=text)
        except ValidationError as error:
            await self.send_json({"type": "error", "message": " ".join(error.messages)})
            return
        self.started.add(turn.pk)
        await runner.turn_dispatch(turn_id=turn.pk, conversation_id=self.conversation.pk)

    async def _stop(self) -> None:
        turn = await db(running_turn)(conversation=self.conversation)
        if turn is not None:
            await db(_request_stop)(turn.pk, Turn.Status.CANCELLED)
            runner.turn_cancel_local(turn.pk)

    async def layer_recovered(self, message: dict) -> None:
        """Events sent while the channel layer was down never came: the page reads what
        was recorded meanwhile (a page of its own, not this socket, serves it)."""
        await self.send_json({"type": "resync"})

    async def turn_event(self, message: dict) -> None:
        event = message["event"]
        if self.refused:  # events already on their way when it was closed
            return
        if event.get("type") in RECHECKED_EVENTS and not await self._still_allowed():
            await self._refuse()
            return
        if event.get("type") == "turn_finished":
            self.started.discard(_uuid(event.get("turn")))
        await self.send_json(event)


def _request_stop(turn_id, why: str) -> None:
    turn = Turn.objects.filter(pk=turn_id).first()
    if turn is not None:
        services.turn_request_stop(turn=turn, why=why)
        # A turn whose process died would otherwise run on until the next reap.
        services.turn_end_if_orphaned(turn=turn)


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
