"""Drive's answers to other apps' signals (connected in DriveConfig.ready)."""

from drive.services import drive_files_purge
from workspaces.models import Workspace


def purge_drive_of_deleted_workspace(sender, *, workspace: Workspace, **kwargs) -> None:
    # Before the cascade: the blobs live outside the database and a cascade would strand
    # them. The rows go now, the blobs once the deletion has committed.
    drive_files_purge(workspace=workspace)
