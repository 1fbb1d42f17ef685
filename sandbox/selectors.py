from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError

from sandbox.models import NetworkAttempt, SandboxPolicy, SandboxSession
from sandbox.network import PRESETS, Mode, NetworkPolicy, Rule, parse_rule
from workspaces.models import Workspace


@dataclass(frozen=True)
class Maximums:
    timeout_seconds: int
    memory_mb: int


def sandbox_maximums(*, workspace: Workspace) -> Maximums:
    """The workspace's ceilings; the operator's settings cap them and fill the gaps."""
    policy = SandboxPolicy.objects.filter(workspace=workspace).first()
    ceiling = Maximums(
        timeout_seconds=int(settings.TURNBOX_SANDBOX_TIMEOUT_SECONDS),
        memory_mb=settings.TURNBOX_SANDBOX_MEMORY_MB,
    )
    if policy is None:
        return ceiling
    return Maximums(
        timeout_seconds=min(
            policy.max_timeout_seconds or ceiling.timeout_seconds, ceiling.timeout_seconds
        ),
        memory_mb=min(policy.max_memory_mb or ceiling.memory_mb, ceiling.memory_mb),
    )


def workspace_network_policy(*, workspace: Workspace) -> NetworkPolicy:
    """The network policy the workspace's admins set: no network without one. A stored
    ``open`` counts as no network once the operator stops allowing it."""
    row = SandboxPolicy.objects.filter(workspace=workspace).first()
    if row is None or row.network_policy == Mode.NONE:
        return NetworkPolicy.none()
    if row.network_policy == Mode.OPEN:
        return NetworkPolicy.open() if settings.TURNBOX_EGRESS_ALLOW_OPEN else NetworkPolicy.none()
    return NetworkPolicy(mode=Mode.ALLOWLIST, rules=_stored_rules(row))


def _stored_rules(row: SandboxPolicy) -> tuple[Rule, ...]:
    # Validated when saved; an entry a later release refuses is skipped, not fatal.
    entries = [*row.allowed_domains]
    entries += [d for name in row.network_presets if name in PRESETS for d in PRESETS[name].domains]
    rules = []
    for entry in entries:
        try:
            rules.append(parse_rule(entry))
        except ValidationError:
            continue
    return tuple(dict.fromkeys(rules))


def network_attempts(
    *, session: SandboxSession, since: datetime | None = None, blocked_only: bool = False
) -> list[NetworkAttempt]:
    """What the session's code tried to reach, oldest first; ``since`` keeps the attempts
    last seen at or after that moment (an execution's start)."""
    attempts = NetworkAttempt.objects.filter(session=session)
    if since is not None:
        attempts = attempts.filter(last_at__gte=since)
    if blocked_only:
        attempts = attempts.exclude(verdict=NetworkAttempt.Verdict.ALLOWED)
    return list(attempts.order_by("first_at", "id"))
