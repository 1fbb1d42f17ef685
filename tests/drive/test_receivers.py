"""Drive follows a workspace's deletion: its files go with it, the blobs after commit."""

from django.core.files.base import ContentFile
from django.core.files.storage import storages

from drive.models import DriveFile
from drive.services import drive_file_upload
from workspaces.services import workspace_delete


def test_deleting_a_workspace_purges_its_drive_and_no_other(
    team, other_team, django_capture_on_commit_callbacks
):
    gone = drive_file_upload(workspace=team.workspace, path="/a.csv", content=ContentFile(b"a"))
    kept = drive_file_upload(
        workspace=other_team.workspace, path="/b.csv", content=ContentFile(b"b")
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        workspace_delete(workspace=team.workspace)
    assert list(DriveFile.objects.all()) == [kept]
    # The blob outlives the rows until the deletion commits: a rollback keeps the files.
    assert storages["drive"].exists(gone.blob_name)
    for callback in callbacks:
        callback()
    assert not storages["drive"].exists(gone.blob_name)
    assert storages["drive"].exists(kept.blob_name)
