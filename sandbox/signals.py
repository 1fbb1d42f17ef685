"""What the sandbox engine tells the apps above it, which it does not know.

``session_opened`` is sent as a session's record is created, before its sandbox starts,
with ``session``: billing binds the account that will pay for it then. A receiver that
raises keeps the session from opening (it ends as "could not start").
``session_closed`` is sent once a session has closed, its record with it (``session``,
a SandboxSession): billing charges it then. ``reaped`` is sent after every reap, with
the removed sandboxes' ``names``: the sessions it closed were never announced one by
one, so apps end their own records of dead processes then (the agents end the turns
whose process died; billing charges what was left uncharged).
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

session_opened = Signal()
session_closed = Signal()
reaped = Signal()


def session_closed_announce(*, session) -> None:
    """Tells the receivers that ``session`` closed; a failing receiver never breaks the
    close (billing's charge is reconciled at the next reap)."""
    answers = session_closed.send_robust(sender=session.__class__, session=session)
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error(
                "%r failed at the close of session %s.", receiver, session.pk, exc_info=answer
            )
