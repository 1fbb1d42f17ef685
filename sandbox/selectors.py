from dataclasses import dataclass

from django.conf import settings

from sandbox.models import SandboxPolicy
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
