import hashlib

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from connections import crypto
from connections.models import Connection, Kind, PixelMLKey
from workspaces.models import Workspace


def connections_of_workspace(*, workspace: Workspace) -> QuerySet[Connection]:
    return (
        Connection.objects.filter(workspace=workspace)
        .select_related("pixelml_key")
        .order_by("kind", "name")
    )


def connection_get(*, workspace: Workspace, pk: int) -> Connection:
    return get_object_or_404(
        Connection.objects.select_related("pixelml_key"), workspace=workspace, pk=pk
    )


def connection_secret(*, connection: Connection) -> str:
    """The plaintext key, for code that calls the provider. Never for display."""
    if not connection.secret_encrypted:
        return ""
    return crypto.decrypt(connection.secret_encrypted)


def pixelml_connection(*, workspace: Workspace) -> Connection | None:
    """The workspace's PixelML connection, active or not (there is at most one)."""
    return (
        Connection.objects.filter(workspace=workspace, kind=Kind.PIXELML)
        .select_related("pixelml_key")
        .first()
    )


def active_pixelml_connection(*, workspace: Workspace) -> Connection | None:
    return (
        Connection.objects.filter(
            workspace=workspace,
            kind=Kind.PIXELML,
            pixelml_key__isnull=False,
            pixelml_key__revoked_at__isnull=True,
        )
        .select_related("pixelml_key")
        .first()
    )


def workspace_has_active_pixelml(*, workspace: Workspace) -> bool:
    return active_pixelml_connection(workspace=workspace) is not None


def pixelml_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def pixelml_key_find(*, key: str) -> PixelMLKey | None:
    """The issued, non-revoked key matching this plaintext, if any."""
    return PixelMLKey.objects.filter(
        key_hash=pixelml_key_hash(key.strip()), revoked_at__isnull=True
    ).first()
