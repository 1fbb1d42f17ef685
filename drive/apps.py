"""The Drive app: each workspace's files, kept in the configured storage."""

from django.apps import AppConfig


class DriveConfig(AppConfig):
    name = "drive"

    def ready(self) -> None:
        from drive.receivers import purge_drive_of_deleted_workspace
        from workspaces.signals import workspace_deleting

        workspace_deleting.connect(
            purge_drive_of_deleted_workspace, dispatch_uid="drive.purge_deleted_workspace"
        )
