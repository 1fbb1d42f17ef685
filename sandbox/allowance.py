"""What a session asks its caller while code runs: may it go on?

The engine knows nothing of credits or budgets. A caller that meters its sessions hands
Session.open an object with ``stop_reason``; while an execution runs the session asks
it every CHECK_SECONDS, telling it how long the current execution has been active, and
stops the code (then closes) once it answers with a reason.
"""

import time
import uuid
from typing import Protocol

# The session stops within about this much of the boundary (plus the kill's own delay).
CHECK_SECONDS = 0.25


class Meter(Protocol):
    def stop_reason(self, *, session_id: uuid.UUID, running_ms: int) -> str:
        """ "" while the session may go on; else why it must stop, in words for the
        person that follow "Stopped: " ("the credit ran out. ..."). ``running_ms`` is
        the execution running now; the finished ones are in the session's records."""
        ...


class Checks:
    """When the running execution asks its meter next; never without a meter."""

    def __init__(self, meter: Meter | None, started: float):
        self.next = started if meter is not None else float("inf")

    def due(self) -> bool:
        if time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + CHECK_SECONDS
        return True
