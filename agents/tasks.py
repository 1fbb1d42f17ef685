import asyncio

from celery import shared_task

from agents.events import GroupPublisher
from agents.models import Turn
from agents.turns import turn_execute


@shared_task(acks_late=False)
def turn_run(turn_id: str) -> str:
    """Runs one turn in this worker; its events go out through the channel layer.

    Not acknowledged late: a turn that a crashed worker started must not run twice
    (its tool calls had effects); the reaper ends it instead."""
    conversation_id = (
        Turn.objects.filter(pk=turn_id).values_list("conversation_id", flat=True).first()
    )
    if conversation_id is None:
        return ""
    return asyncio.run(turn_execute(turn_id, publisher=GroupPublisher(conversation_id)))
