"""Writes of the sandbox records; the engine calls them, views never do."""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sandbox.egress.attempts import Attempt
from sandbox.models import Execution, NetworkAttempt, SandboxPolicy, SandboxSession
from sandbox.network import Mode, NetworkPolicy, preset_domains
from sandbox.owners import owner_alive
from workspaces.models import User, Workspace

# Output kept in the database per execution and stream; the full stream went to the caller.
KEPT_OUTPUT_CHARS = 64 * 1024


@transaction.atomic
def sandbox_session_create(
    *,
    workspace: Workspace | None,
    started_by: User | None,
    purpose: str,
    runtime: str,
    image: str,
    owner: str,
    network: dict | None = None,
) -> SandboxSession:
    return SandboxSession.objects.create(
        workspace=workspace,
        started_by=started_by,
        purpose=purpose,
        runtime=runtime,
        image=image,
        owner=owner,
        network=network or {},
    )


@transaction.atomic
def sandbox_session_attach(*, session: SandboxSession, container_name: str) -> None:
    session.container_name = container_name
    session.save(update_fields=["container_name"])


@transaction.atomic
def sandbox_session_end(*, session: SandboxSession, reason: str) -> None:
    """Closes the record once; executions still marked running are closed with it."""
    now = timezone.now()
    updated = SandboxSession.objects.filter(pk=session.pk, status=SandboxSession.Status.OPEN)
    if not updated.update(status=SandboxSession.Status.CLOSED, end_reason=reason, closed_at=now):
        return
    session.status, session.end_reason, session.closed_at = "closed", reason, now
    for execution in session.executions.filter(status=Execution.Status.RUNNING):
        _close_unfinished(execution, now)


def _close_unfinished(execution: Execution, now) -> None:
    # Nobody saw it finish: charge what it can have used at most, from its own start.
    elapsed = max(now - execution.started_at, timedelta(0))
    execution.status = Execution.Status.KILLED
    execution.message = "The sandbox ended before this finished."
    execution.ended_at = now
    execution.duration_ms = int(elapsed.total_seconds() * 1000)
    execution.save(update_fields=["status", "message", "ended_at", "duration_ms"])


@transaction.atomic
def execution_create(*, session: SandboxSession, kind: str, source: str) -> Execution:
    return Execution.objects.create(session=session, kind=kind, source=source)


@transaction.atomic
def execution_finish(
    *,
    execution: Execution,
    status: str,
    duration_ms: int,
    message: str = "",
    exit_code: int | None = None,
    error_name: str = "",
    error_value: str = "",
    stdout: str = "",
    stderr: str = "",
    output_truncated: bool = False,
) -> None:
    execution.status = status
    execution.duration_ms = duration_ms
    execution.ended_at = timezone.now()
    execution.message = message
    execution.exit_code = exit_code
    execution.error_name = error_name[:200]
    execution.error_value = error_value[:KEPT_OUTPUT_CHARS]
    execution.stdout = stdout[:KEPT_OUTPUT_CHARS]
    execution.stderr = stderr[:KEPT_OUTPUT_CHARS]
    execution.output_truncated = output_truncated
    execution.save()


def sandbox_sessions_reaped(*, container_names: set[str]) -> int:
    """Closes the open records of reaped containers and of owners that died here."""
    open_sessions = SandboxSession.objects.filter(status=SandboxSession.Status.OPEN)
    closed = 0
    for session in open_sessions.iterator():
        if session.container_name in container_names or owner_alive(session.owner) is False:
            sandbox_session_end(session=session, reason=SandboxSession.EndReason.REAPED)
            closed += 1
    return closed


@transaction.atomic
def network_attempts_record(
    *, session: SandboxSession, execution: Execution | None, attempts: Iterable[Attempt]
) -> None:
    """Adds the proxy's decisions to the session's records, one row per execution, host,
    port and verdict (a session's executions run one at a time: no row is contended)."""
    for attempt in attempts:
        row, created = NetworkAttempt.objects.get_or_create(
            session=session,
            execution=execution,
            host=attempt.host,
            port=attempt.port,
            verdict=attempt.verdict,
            defaults={
                "count": attempt.count,
                "first_at": attempt.first_at,
                "last_at": attempt.last_at,
            },
        )
        if not created:
            row.count += attempt.count
            row.first_at = min(row.first_at, attempt.first_at)
            row.last_at = max(row.last_at, attempt.last_at)
            row.save(update_fields=["count", "first_at", "last_at"])


@transaction.atomic
def sandbox_network_policy_set(
    *, workspace: Workspace, mode: str, domains: list[str], presets: list[str]
) -> SandboxPolicy:
    """Stores a workspace's network policy; raises ValidationError naming each bad domain
    or unknown preset, or refusing ``open`` where the operator does not allow it. The list
    is kept, normalised, when another mode is chosen, so that it is there when it comes
    back."""
    try:
        mode = Mode(mode)
    except ValueError:
        raise ValidationError(f"Unknown network policy {mode!r}.") from None
    if mode == Mode.OPEN and not settings.TURNBOX_EGRESS_ALLOW_OPEN:
        raise ValidationError(
            "The open network policy is not available: the operator has not allowed it."
        )
    listed = NetworkPolicy.allowlist(domains)  # validates; presets are checked below
    preset_domains(presets)
    row, _ = SandboxPolicy.objects.select_for_update().get_or_create(workspace=workspace)
    row.network_policy = str(mode)
    row.allowed_domains = [str(rule) for rule in listed.rules]
    row.network_presets = list(dict.fromkeys(presets))
    row.updated_at = timezone.now()
    row.save()
    return row
