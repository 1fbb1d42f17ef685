"""The session API: one sandbox for one agent turn.

    with open_session(workspace=workspace, purpose="turn") as session:
        for event in session.python("import pandas as pd; pd.__version__"):
            ...  # stdout, stderr, display, result, error, then one status

Python state and the files in /workspace last as long as the session; a new session
never sees anything of an old one. Between executions the sandbox is frozen (its
processes stopped, under runc and gVisor alike): what an execution left running, a
background loop or a thread, waits for the next one, since only executions are charged.
The container goes away when the session closes, whatever ends it. Every execution is
recorded with its duration as the host measured it, which is what billing charges. The
engine knows nothing of credits: a caller that meters hands in a meter
(sandbox.allowance), and every open and close is announced (sandbox.signals).
"""

import contextlib
import logging
import queue
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sandbox import pool, services, signals
from sandbox.allowance import Checks, Meter
from sandbox.channel import CLOSED, ChannelClosed
from sandbox.containers import (
    NO_NETWORK_UNDER_GVISOR,
    Sandbox,
    SandboxUnavailable,
    Spec,
    network_refused,
    network_runtime,
    owner_id,
    start_sandbox,
)
from sandbox.egress import feed
from sandbox.egress.attempts import Attempt
from sandbox.egress.errors import ProxyGone
from sandbox.models import Execution, SandboxSession
from sandbox.network import NetworkPolicy
from sandbox.outcome import INTERRUPTED, KILLED, RUNNING, Outcome
from sandbox.session_network import network_blocked, network_give
from workspaces.models import User, Workspace

logger = logging.getLogger(__name__)

# How long a bridge may take to report after a hard kill before the sandbox is replaced.
KILL_REPORT_SECONDS = 5
KERNEL_RESTART_SECONDS = 60


class SessionError(RuntimeError):
    """A session used wrongly (closed, or busy with another execution)."""


class _Unresponsive(Exception):
    pass


class Session:
    def __init__(
        self,
        *,
        record: SandboxSession,
        spec: Spec,
        network: NetworkPolicy | None = None,
        meter: Meter | None = None,
    ):
        self.record = record
        self.meter = meter
        # Why the credit stopped this session ("" while it has credit).
        self.out_of_credit = ""
        self.spec = spec
        self.network = network or NetworkPolicy.none()
        self.closed = False
        self._sandbox: Sandbox | None = None
        self._busy = False
        self._current: str | None = None
        self._stopped = False
        # The egress proxies whose record feeds know this session, forgotten at its close.
        self._proxies: set[str] = set()
        # Kernel restarts the bridge owes us: the next Python execution waits for them
        # before its clock starts, so no execution pays for another one's restart.
        self._restarts_due = 0

    @classmethod
    def open(
        cls,
        *,
        workspace: Workspace | None = None,
        started_by: User | None = None,
        purpose: str = "",
        runtime: str | None = None,
        network: NetworkPolicy | None = None,
        meter: Meter | None = None,
        **limits,
    ) -> "Session":
        """Opens a session; ``meter``, when given, may stop its code (the caller has
        already decided that the session may open at all)."""
        network = network or NetworkPolicy.none()
        if network.enabled and runtime is not None and network_refused(runtime):
            # Asked for by name: the operator's setting would not change the answer.
            raise SandboxUnavailable(
                "Network access is not available under gVisor (runsc), which has no network "
                "here: choose runc for a session with a network."
            )
        if runtime is None and network.enabled:
            runtime = network_runtime()
        spec = Spec.default(runtime=runtime, egress=network.enabled, **limits)
        if network.enabled and network_refused(spec.runtime):
            raise SandboxUnavailable(NO_NETWORK_UNDER_GVISOR)
        record = services.sandbox_session_create(
            workspace=workspace,
            started_by=started_by,
            purpose=purpose,
            runtime=spec.runtime,
            image=spec.image,
            owner=owner_id(),
            network=network.as_json(),
        )
        session = cls(record=record, spec=spec, network=network, meter=meter)
        try:
            signals.session_opened.send(sender=SandboxSession, session=record)
            session._ensure_sandbox()
        except BaseException:
            reason = SandboxSession.EndReason.START_FAILED
            services.sandbox_session_end(session=record, reason=reason)
            raise
        return session

    # -- executions --------------------------------------------------------------------
    def python(self, code: str, *, timeout: float | None = None) -> Iterator[dict]:
        """Runs code in the session's kernel; yields events as they happen."""
        return self._execute(Execution.Kind.PYTHON, code, timeout)

    def shell(self, command: str, *, timeout: float | None = None) -> Iterator[dict]:
        """Runs a bash command in /workspace; yields events; the status has its exit code."""
        return self._execute(Execution.Kind.SHELL, command, timeout)

    def stop(self) -> None:
        """Stops the running execution at once (a cancelled turn); the session stays."""
        if self._current and self._sandbox:
            self._stopped = True
            with contextlib.suppress(ChannelClosed):
                self._sandbox.channel.send({"op": "kill", "id": self._current})

    def _execute(self, kind: str, code: str, timeout: float | None) -> Iterator[dict]:
        self._claim()
        try:
            sandbox = self._ensure_sandbox()
            limits = self.spec.limits
            outcome = Outcome(
                kind=kind,
                timeout=timeout or limits.timeout,
                memory_mb=limits.memory_mb,
                max_output=limits.max_output,
            )
            execution = services.execution_create(session=self.record, kind=kind, source=code)
            yield from self._run(sandbox, execution, outcome, code)
        finally:
            self._busy = False
            self._current = None
            self._stopped = False
        if self.out_of_credit:
            self.close()

    def _run(self, sandbox: Sandbox, execution: Execution, outcome: Outcome, code: str):
        sandbox.thaw()  # frozen since the last execution ended, before any clock starts
        if outcome.kind == Execution.Kind.PYTHON:
            self._await_kernel(sandbox)
        request_id = uuid.uuid4().hex
        events = sandbox.channel.listen(request_id)
        self._current = request_id
        started = time.monotonic()
        finished = False
        try:
            sandbox.channel.send(
                {
                    "op": outcome.kind,
                    "id": request_id,
                    "code": code,
                    "max_output": outcome.max_output,
                }
            )
            yield from self._stream(sandbox, events, outcome, started)
            finished = True
            if self._stopped:
                outcome.stopped()
            if self.out_of_credit:
                outcome.message = f"Stopped: {self.out_of_credit}"
        except ChannelClosed:
            self._lose_sandbox(outcome, "it ended unexpectedly")
            finished = True
        finally:
            sandbox.channel.unlisten(request_id)
            if not outcome.duration_ms:  # no status came: charge up to now
                outcome.duration_ms = round((time.monotonic() - started) * 1000)
            if outcome.status == Execution.Status.TIMEOUT:
                # The interrupt and kill after the limit are ours: charged up to the limit.
                outcome.duration_ms = min(outcome.duration_ms, round(outcome.timeout * 1000))
            if not finished:
                # The caller stopped listening (a cancelled turn): stop the code too.
                self.stop()
                outcome.stopped()
            blocked = self._network_blocked(sandbox, execution)
            outcome.network_blocked([attempt.message for attempt in blocked])
            services.execution_finish(execution=execution, **outcome.record_fields())
            sandbox.freeze_soon()  # its clock has stopped: so does everything it started
        for attempt in blocked:
            yield attempt.event()
        if notice := outcome.truncation_notice():
            yield notice
        yield outcome.status_event()

    def _stream(self, sandbox: Sandbox, events, outcome: Outcome, started: float):
        phase, deadline = RUNNING, started + outcome.timeout
        checks = Checks(self.meter, started)
        while True:
            if checks.due():  # also while output streams without a pause
                self._check_credit(started)
            try:
                event = events.get(timeout=max(min(deadline, checks.next) - time.monotonic(), 0))
            except queue.Empty:
                if time.monotonic() < deadline:
                    continue  # time for a credit check, not the deadline
                try:
                    phase, deadline = self._escalate(sandbox, phase)
                except _Unresponsive:
                    self._lose_sandbox(outcome, "it stopped answering")
                    return
                continue
            if event is CLOSED:
                raise ChannelClosed
            if event["type"] == "status":
                outcome.duration_ms = round((time.monotonic() - started) * 1000)
                self._restarts_due += 1 if event.get("kernel_lost") is True else 0
                outcome.finish(event, phase)
                return
            if (cleaned := outcome.accept(event, phase)) is not None:
                yield cleaned

    def _check_credit(self, started: float) -> None:
        """Stops the running execution once the session's credit is used up."""
        if self.out_of_credit:
            return
        running_ms = round((time.monotonic() - started) * 1000)
        try:
            why = self.meter.stop_reason(session_id=self.record.pk, running_ms=running_ms)
        except Exception:  # the database is away: the charge at the close still counts
            logger.exception("The credit check of session %s failed.", self.record.pk)
            return
        if why:
            self.out_of_credit = why
            logger.info("Session %s ran out of credit.", self.record.pk)
            self.stop()

    def _escalate(self, sandbox: Sandbox, phase: str) -> tuple[str, float]:
        """Past the deadline: interrupt, then kill, then give up on the sandbox."""
        now = time.monotonic()
        if phase == RUNNING:
            sandbox.channel.send({"op": "interrupt", "id": self._current})
            return INTERRUPTED, now + self.spec.limits.interrupt_grace
        if phase == INTERRUPTED:
            sandbox.channel.send({"op": "kill", "id": self._current})
            return KILLED, now + KILL_REPORT_SECONDS
        raise _Unresponsive

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Holds the session for one piece of work outside an execution (a file transfer);
        the sandbox is not thawed for it: Docker's archive API needs none of its processes."""
        self._claim()
        try:
            yield
        finally:
            self._busy = False

    def _await_kernel(self, sandbox: Sandbox) -> None:
        if sandbox.channel.restarts >= self._restarts_due:
            return
        if not sandbox.channel.wait_restarts(self._restarts_due, KERNEL_RESTART_SECONDS):
            # The bridge exits when it cannot restart Python; waiting longer helps nobody.
            sandbox.destroy()

    # -- the sandbox behind the session ------------------------------------------------
    def _claim(self) -> None:
        if self.closed:
            raise SessionError("This sandbox session is closed.")
        if self._busy:
            raise SessionError("This sandbox session is already running something.")
        self._busy = True

    def _ensure_sandbox(self) -> Sandbox:
        if self._sandbox is None or not self._sandbox.alive():
            if self._sandbox is not None:
                self._sandbox.destroy()
            self._sandbox = self._take_sandbox()
            self._restarts_due = 0
            services.sandbox_session_attach(session=self.record, container_name=self._sandbox.name)
        return self._sandbox

    def _take_sandbox(self) -> Sandbox:
        pooled = pool.acquire(self.spec)
        if pooled is not None:
            try:
                self._give_network(pooled)
                return pooled
            except ProxyGone:  # it waited for a proxy that has been replaced since
                pooled.destroy()
            except BaseException:
                pooled.destroy()
                raise
        sandbox = start_sandbox(self.spec)
        try:
            self._give_network(sandbox)
        except BaseException as exc:
            sandbox.destroy()
            if isinstance(exc, ProxyGone):
                raise SandboxUnavailable(f"{exc} Try again.") from exc
            raise
        return sandbox

    def _give_network(self, sandbox: Sandbox) -> None:
        network_give(sandbox, record=self.record, policy=self.network, proxies=self._proxies)

    def _network_blocked(
        self, sandbox: Sandbox, execution: Execution | None, *, last: bool = False
    ) -> list[Attempt]:
        return network_blocked(sandbox, record=self.record, execution=execution, last=last)

    def _lose_sandbox(self, outcome: Outcome, why: str) -> None:
        # Under gVisor the memory limit stops the whole sandbox, not just one process.
        out_of_memory = self._sandbox is not None and self._sandbox.out_of_memory()
        outcome.sandbox_lost(why, out_of_memory=out_of_memory)
        if self._sandbox is not None:
            self._sandbox.destroy()
            self._sandbox = None

    @property
    def sandbox(self) -> Sandbox:
        """The live sandbox (file transfers use its container)."""
        return self._ensure_sandbox()

    # -- the end -----------------------------------------------------------------------
    def close(self, reason: str = SandboxSession.EndReason.CLOSED) -> None:
        """Destroys the container and closes the record; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._sandbox is not None:
                try:
                    self._network_blocked(self._sandbox, None, last=True)
                finally:
                    self._sandbox.destroy()
                    self._sandbox = None
        finally:
            # Also when the sandbox was lost on the way, or its last records unreadable.
            feed.forget(proxy_ids=self._proxies, session_id=str(self.record.id))
            services.sandbox_session_end(session=self.record, reason=reason)
            signals.session_closed_announce(session=self.record)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(reason=end_reason_for(exc))


def end_reason_for(exc: BaseException | None) -> str:
    if exc is None:
        return SandboxSession.EndReason.CLOSED
    if isinstance(exc, KeyboardInterrupt | GeneratorExit | SystemExit) or (
        type(exc).__name__ == "CancelledError"
    ):
        return SandboxSession.EndReason.CANCELLED
    return SandboxSession.EndReason.ERROR


@contextmanager
def open_session(**options) -> Iterator[Session]:
    """A session that is closed (its container removed) however the block ends."""
    session = Session.open(**options)
    with session:
        yield session


def run_to_end(events: Iterator[dict], on_event=None) -> dict:
    """Consumes an execution's events; returns its status event."""
    status = {}
    for event in events:
        if on_event is not None:
            on_event(event)
        if event["type"] == "status":
            status = event
    return status
