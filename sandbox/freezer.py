"""Freezing a sandbox between executions, once it has been idle for a moment.

Only executions are charged, so nothing may run between them: the bridge stops every
process of the sandbox but itself (SIGSTOP) and lets them go on (SIGCONT) before the
next request. The freeze waits for a short idle moment, in a timer thread: executions
sent back to back skip it, and the caller of an execution never waits for it. A thaw
cancels a freeze that is due and waits for one under way, so nothing is frozen while
an execution runs (docs/sandbox.md, Frozen between executions).
"""

import contextlib
import logging
import queue
import threading
import uuid

from sandbox.channel import ChannelClosed

logger = logging.getLogger(__name__)

# How long a sandbox stays idle before it is frozen: what an execution leaves running
# runs this long unbilled, and an execution sent within it finds nothing to thaw.
IDLE_SECONDS = 0.05
# How long a bridge may take to confirm a freeze: it lets a kernel restart finish first.
FREEZE_SECONDS = 15


class Freezer:
    """Freezes one sandbox when it has been idle, and thaws it before it is used."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.frozen = False
        self._lock = threading.Lock()
        self._due: object | None = None  # the freeze the timer may make, if still wanted
        self._timer: threading.Timer | None = None

    def freeze_soon(self) -> None:
        """Freezes the sandbox IDLE_SECONDS from now unless ``thaw`` comes first."""
        with self._lock:
            self._cancel()
            self._due = token = object()
            self._timer = threading.Timer(IDLE_SECONDS, self._freeze, args=(token,))
            self._timer.daemon = True
            self._timer.start()

    def freeze(self) -> None:
        """Freezes the sandbox now and waits for the bridge to confirm."""
        with self._lock:
            self._due = token = object()
        self._freeze(token)

    def thaw(self) -> None:
        """Cancels a due freeze, waits for one under way, and lets the stopped processes go
        on: the next request follows on the same stream, after the bridge's SIGCONT."""
        with self._lock:
            self._cancel()
            if self.frozen and not self.sandbox.channel.closed:
                with contextlib.suppress(ChannelClosed):
                    self.sandbox.channel.send({"op": "thaw"})
            self.frozen = False

    def stop(self) -> None:
        """No freeze after this: the sandbox is going away."""
        with self._lock:
            self._cancel()

    def _cancel(self) -> None:
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _freeze(self, token: object) -> None:
        with self._lock:
            if token is not self._due or self.frozen or self.sandbox.channel.closed:
                return
            self._due = None
            self.frozen = confirmed = self._ask_bridge()
        # Closed: the sandbox stopped or is being removed, and its session sees that.
        if not confirmed and not self.sandbox.channel.closed:
            # Its code shares the bridge's user and may have stopped it, or it is stuck:
            # the sandbox goes, and with it whatever it was running.
            logger.warning("Sandbox %s did not freeze: removed.", self.sandbox.name)
            self.sandbox.destroy()

    def _ask_bridge(self) -> bool:
        channel = self.sandbox.channel
        request_id = uuid.uuid4().hex
        events = channel.listen(request_id)
        try:
            channel.send({"op": "freeze", "id": request_id})
            answer = events.get(timeout=FREEZE_SECONDS)
        except (ChannelClosed, queue.Empty):
            answer = None
        finally:
            channel.unlisten(request_id)
        return answer is not None and answer.get("type") == "frozen"
