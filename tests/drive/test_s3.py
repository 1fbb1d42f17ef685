"""Drive on S3: the production back end, against a real S3 API server (moto's)."""

import boto3
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from moto.server import ThreadedMotoServer

from config.storages import s3_drive
from drive import services
from drive.selectors import drive_file_open
from workspaces.services import workspace_delete

BUCKET = "turnbox-drive-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_drive_storage(settings, s3_endpoint):
    credentials = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    drive = s3_drive(bucket=BUCKET, endpoint_url=s3_endpoint, **credentials)
    settings.STORAGES = {**settings.STORAGES, "default": drive, "drive": drive}
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_files_live_in_the_bucket_under_random_keys(team, s3_drive_storage):
    drive_file = services.drive_file_upload(
        workspace=team.workspace, path="/data/q4.csv", content=ContentFile(b"a,b\n1,2\n")
    )
    [item] = s3_drive_storage.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert item["Key"] == f"drive/{drive_file.blob_name}"
    assert "q4" not in item["Key"]
    with drive_file_open(drive_file=drive_file) as handle:
        assert handle.read() == b"a,b\n1,2\n"


def test_replace_and_delete_clean_up_the_bucket(
    team, s3_drive_storage, django_capture_on_commit_callbacks
):
    services.drive_file_upload(
        workspace=team.workspace, path="/a.csv", content=ContentFile(b"old\n")
    )
    # Old blobs are deleted once the database change has committed.
    with django_capture_on_commit_callbacks(execute=True):
        replaced = services.drive_file_upload(
            workspace=team.workspace, path="/a.csv", content=ContentFile(b"new\n"), replace=True
        )
    keys = [i["Key"] for i in s3_drive_storage.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"drive/{replaced.blob_name}"]
    with django_capture_on_commit_callbacks(execute=True):
        services.drive_file_delete(drive_file=replaced)
    assert "Contents" not in s3_drive_storage.list_objects_v2(Bucket=BUCKET)


@pytest.mark.django_db(transaction=True)
def test_a_member_downloads_a_file_stored_in_s3(team, client_for, s3_drive_storage):
    drive_file = services.drive_file_upload(
        workspace=team.workspace, path="/r.csv", content=ContentFile(b"x,y\n")
    )
    url = reverse("drive:download", kwargs={"ws": team.workspace.slug, "pk": drive_file.pk})
    response = client_for(team.member).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"x,y\n"


def test_deleting_a_workspace_empties_its_part_of_the_bucket(
    team, other_team, s3_drive_storage, django_capture_on_commit_callbacks
):
    services.drive_file_upload(workspace=team.workspace, path="/a.csv", content=ContentFile(b"a"))
    kept = services.drive_file_upload(
        workspace=other_team.workspace, path="/b.csv", content=ContentFile(b"b")
    )
    with django_capture_on_commit_callbacks(execute=True):
        workspace_delete(workspace=team.workspace)
    keys = [i["Key"] for i in s3_drive_storage.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"drive/{kept.blob_name}"]
