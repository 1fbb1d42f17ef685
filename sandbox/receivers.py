"""What the sandbox app answers the apps below it (connected in SandboxConfig.ready)."""

from sandbox.models import SandboxSession


def pixelml_delete_refusal(*, connection, **_) -> str:
    """A workspace's PixelML connection stays while its sandboxes run: they are metered
    against its key and charged to it when they end."""
    running = SandboxSession.objects.filter(
        workspace_id=connection.workspace_id, status=SandboxSession.Status.OPEN
    ).count()
    if not running:
        return ""
    return (
        f"{running} sandbox session(s) of this workspace are running on this key. "
        "Delete the connection once they have ended (a turn's sandbox ends with it)."
    )
