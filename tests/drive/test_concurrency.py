"""Races that only a real multi-connection database shows (run on PostgreSQL)."""

import threading

import pytest
from django.core.files.base import ContentFile
from django.db import connection, connections

from drive import services
from drive.models import DriveFile

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the test command runs the suite on it too",
    ),
]


def run_at_once(*calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except services.DriveError as error:
            outcomes[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def uploading(team, path: str):
    return lambda: services.drive_file_upload(
        workspace=team.workspace, path=path, content=ContentFile(b"a,b\n")
    )


@pytest.mark.parametrize("repeat", range(8))
def test_a_file_and_a_folder_of_the_same_name_cannot_both_be_created(team, repeat):
    outcomes = run_at_once(uploading(team, "/r0.csv"), uploading(team, "/r0.csv/inner.csv"))

    assert [o for o in outcomes if o == "ok"] == ["ok"]
    [refusal] = [o for o in outcomes if o != "ok"]
    assert isinstance(refusal, services.PathConflict)
    assert DriveFile.objects.filter(workspace=team.workspace).count() == 1
