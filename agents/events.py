"""Where a turn's events go: the conversation's channel-layer group, which every open
websocket of that conversation joins (in-memory on one machine, Redis across many).

Redis can go away for a moment (a restart). A send is then retried for a few seconds and
given up: the turn runs on, since everything it does is recorded in the database as it
happens and a reload, or the page's re-sync once its socket is back, shows it."""

import asyncio
import logging
import time
from typing import Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.turn_states import status_text

log = logging.getLogger(__name__)

# What a channel layer raises while its server is unreachable; anything else is a bug
# (an event that cannot be serialised) and is not worth retrying.
LAYER_ERRORS = (OSError, RedisConnectionError, RedisTimeoutError)
RETRY_SECONDS = 5.0
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 1.0


def group_name(conversation_id) -> str:
    return f"conversation-{conversation_id}"


def finished_event(turn) -> dict:
    """A turn's ending as the browser hears it, from the turn loop or from the reaper."""
    return {
        "type": "turn_finished",
        "turn": str(turn.pk),
        "status": turn.status,
        "state": turn.state,
        "status_text": status_text(turn),
        "message": turn.error_message,
        "duration_ms": turn.duration_ms or 0,
    }


class Publisher(Protocol):
    async def send(self, event: dict) -> None: ...


class GroupPublisher:
    """Raises one of LAYER_ERRORS once the layer has failed for ``retry_seconds``. After
    that it tries each later event once (no waiting) until one goes through: a turn
    must not slow down by the retry time at every line it prints into an outage."""

    def __init__(self, conversation_id, *, retry_seconds: float = RETRY_SECONDS):
        self.group = group_name(conversation_id)
        self.layer = get_channel_layer()
        self.retry_seconds = retry_seconds
        self.given_up = False

    async def send(self, event: dict) -> None:
        deadline = time.monotonic() + (0 if self.given_up else self.retry_seconds)
        pause = FIRST_PAUSE
        while True:
            try:
                await self.layer.group_send(self.group, {"type": "turn.event", "event": event})
            except LAYER_ERRORS as error:
                if time.monotonic() + pause > deadline:
                    self._give_up(error)
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE)
                continue
            if self.given_up:
                log.warning(
                    "%s: the channel layer is back; events reach browsers again", self.group
                )
            self.given_up = False
            return

    def _give_up(self, error: Exception) -> None:
        if not self.given_up:
            log.warning(
                "%s: the channel layer failed for %s s (%s: %s); events are not sent until "
                "it is back",
                self.group, self.retry_seconds, type(error).__name__, error,
            )  # fmt: skip
        self.given_up = True


def publish_from_sync(conversation_id, event: dict, *, retry_seconds: float = 1.0) -> None:
    """Sends one event from synchronous code (the reaper's thread). Never raises: what
    it announces is recorded already, and the caller's work must not fail with Redis."""
    try:
        publisher = GroupPublisher(conversation_id, retry_seconds=retry_seconds)
        async_to_sync(publisher.send)(event)
    except Exception:
        log.warning("conversation %s: %s not sent", conversation_id, event["type"], exc_info=True)
