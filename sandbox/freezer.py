"""Freezing a sandbox between executions, once it has been idle for a moment.

Only executions are charged, so nothing may run between them: the bridge stops every
process of the sandbox but itself (SIGSTOP) and lets them go on (SIGCONT) before the
next request. The freeze waits for a short idle moment, in a thread of the sandbox's
own: executions sent back to back skip it, and the caller of an execution never waits
for it. A thaw calls off a freeze that is due and waits for one under way, so nothing
is frozen while an execution runs (docs/sandbox.md, Frozen between executions).
"""

import contextlib
import logging
import queue
import threading
import time
import uuid

from sandbox.channel import ChannelClosed

logger = logging.getLogger(__name__)

# How long a sandbox stays idle before it is frozen: what an execution leaves running
# runs this long unbilled, and an execution sent within it finds nothing to thaw.
IDLE_SECONDS = 0.05
# How long a bridge may take to confirm a freeze: it lets a kernel restart finish first.
FREEZE_SECONDS = 15


class Freezer:
    """Freezes one sandbox when it has been idle, and thaws it before it is used. Its own
    thread waits for the idle moment: starting a thread per execution put the start-up
    of one on each execution's path (a few milliseconds on a busy machine)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.frozen = False
        # Held for every change, and by the thread for a whole freeze round trip.
        self._cond = threading.Condition()
        self._due_at: float | None = None
        self._stopped = False
        # Work that runs a process of its own in the sandbox (docker exec) holds off the
        # freeze: frozen half-way, it would never end. A freeze wanted meanwhile comes
        # after the hold, unless a thaw (the next execution) called it off.
        self._holds = 0
        self._wanted_after_hold = False
        threading.Thread(target=self._run, daemon=True, name=f"freeze-{sandbox.name}").start()

    def freeze_soon(self) -> None:
        """Freezes the sandbox IDLE_SECONDS from now unless ``thaw`` comes first (or, while
        the sandbox is held, IDLE_SECONDS after the hold ends)."""
        with self._cond:
            if self._holds:
                self._due_at, self._wanted_after_hold = None, True
                return
            self._due_at = time.monotonic() + IDLE_SECONDS
            self._cond.notify()

    def freeze(self) -> None:
        """Freezes the sandbox now and waits for the bridge to confirm."""
        with self._cond:
            self._due_at = None
            confirmed = self._freeze_locked()
        if not confirmed:
            self._give_up()

    @contextlib.contextmanager
    def held(self):
        """No freeze while the block runs: a due one is put off until after it (one under
        way finishes first; a process started in a frozen sandbox is not stopped)."""
        with self._cond:
            self._holds += 1
            if self._due_at is not None:
                self._due_at, self._wanted_after_hold = None, True
        try:
            yield
        finally:
            with self._cond:
                self._holds -= 1
                if not self._holds and self._wanted_after_hold:
                    self._wanted_after_hold = False
                    self._due_at = time.monotonic() + IDLE_SECONDS
                    self._cond.notify()

    def thaw(self) -> None:
        """Calls off a due freeze, waits for one under way, and lets the stopped processes
        go on: the next request follows on the same stream, after the bridge's SIGCONT."""
        with self._cond:
            self._due_at, self._wanted_after_hold = None, False
            if self.frozen and not self.sandbox.channel.closed:
                with contextlib.suppress(ChannelClosed):
                    self.sandbox.channel.send({"op": "thaw"})
            self.frozen = False

    def stop(self) -> None:
        """No freeze after this: the sandbox is going away (close its channel first, so a
        freeze waiting for the bridge gives up at once)."""
        with self._cond:
            self._stopped = True
            self._due_at = None
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._await_due():
                    return
                confirmed = self._freeze_locked()
            if not confirmed:
                self._give_up()
                return

    def _await_due(self) -> bool:
        """Waits (holding the lock) until a freeze is due; False once stopped."""
        while not self._stopped:
            left = None if self._due_at is None else self._due_at - time.monotonic()
            if left is not None and left <= 0:
                self._due_at = None
                return True
            self._cond.wait(left)
        return False

    def _freeze_locked(self) -> bool:
        """False only when the bridge, still there, did not confirm. A closed channel: the
        sandbox stopped or is being removed, and its session sees that."""
        if self.frozen or self.sandbox.channel.closed:
            return True
        self.frozen = self._ask_bridge()
        return self.frozen or self.sandbox.channel.closed

    def _give_up(self) -> None:
        # Its code shares the bridge's user and may have stopped it, or it is stuck: the
        # sandbox goes, and with it whatever it was running.
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
