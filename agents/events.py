"""Where a turn's events go: the conversation's channel-layer group, which every open
websocket of that conversation joins (in-memory on one machine, Redis across many)."""

from typing import Protocol

from channels.layers import get_channel_layer


def group_name(conversation_id) -> str:
    return f"conversation-{conversation_id}"


class Publisher(Protocol):
    async def send(self, event: dict) -> None: ...


class GroupPublisher:
    def __init__(self, conversation_id):
        self.group = group_name(conversation_id)
        self.layer = get_channel_layer()

    async def send(self, event: dict) -> None:
        await self.layer.group_send(self.group, {"type": "turn.event", "event": event})
