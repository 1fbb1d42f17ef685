"""Races that only a real multi-connection database shows (run on PostgreSQL)."""

import pytest
from django.core.files.base import ContentFile

from drive import services
from drive.models import DriveFile
from tests.conftest import postgres_only, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]


def uploading(team, path: str):
    return lambda: services.drive_file_upload(
        workspace=team.workspace, path=path, content=ContentFile(b"a,b\n")
    )


@pytest.mark.parametrize("repeat", range(8))
def test_a_file_and_a_folder_of_the_same_name_cannot_both_be_created(team, repeat):
    outcomes = run_at_once(
        uploading(team, "/r0.csv"),
        uploading(team, "/r0.csv/inner.csv"),
        refusals=(services.DriveError,),
    )

    assert [o for o in outcomes if o == "ok"] == ["ok"]
    [refusal] = [o for o in outcomes if o != "ok"]
    assert isinstance(refusal, services.PathConflict)
    assert DriveFile.objects.filter(workspace=team.workspace).count() == 1
