import hashlib
from collections import Counter

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import (
    FileUploadHandler,
    MemoryFileUploadHandler,
    TemporaryFileUploadHandler,
)
from django.test import Client
from django.urls import reverse

from drive import services
from drive.models import DriveFile
from workspaces.models import User

CSV = b"region,total\nnorth,10\n"
JSON = {"Accept": "application/json"}


def url(team, name: str, **kwargs) -> str:
    return reverse(f"drive:{name}", kwargs={"ws": team.workspace.slug, **kwargs})


def put(team, path: str, data: bytes = CSV) -> DriveFile:
    return services.drive_file_upload(
        workspace=team.workspace, path=path, content=ContentFile(data), uploaded_by=team.member
    )


def file(name: str, data: bytes = CSV) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Access ------------------------------------------------------------------------------


def all_requests(team, pk: int) -> list[tuple[str, str]]:
    return [
        ("get", url(team, "browse")),
        ("post", url(team, "upload")),
        ("get", url(team, "download", pk=pk)),
        ("post", url(team, "delete", pk=pk)),
    ]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_admins_and_members_can_browse(team, client_for, role):
    put(team, "/a.csv")

    response = client_for(team.user(role)).get(url(team, "browse"))

    assert response.status_code == 200
    assert b"a.csv" in response.content


def test_finance_gets_403_everywhere(team, client_for):
    drive_file = put(team, "/a.csv")
    client = client_for(team.finance)

    for method, address in all_requests(team, drive_file.pk):
        assert getattr(client, method)(address).status_code == 403, address
    assert DriveFile.objects.filter(pk=drive_file.pk).exists()


def test_members_of_another_workspace_get_404_everywhere(team, other_team, client_for):
    drive_file = put(team, "/a.csv")
    client = client_for(other_team.member)

    for method, address in all_requests(team, drive_file.pk):
        response = getattr(client, method)(address, {"files": file("b.csv")})
        assert response.status_code == 404, address
    assert list(DriveFile.objects.values_list("path", flat=True)) == ["/a.csv"]


def test_another_workspace_cannot_reach_a_file_through_its_own_drive(team, other_team, client_for):
    ours = put(team, "/secret.csv")
    client = client_for(other_team.admin)

    assert client.get(url(other_team, "download", pk=ours.pk)).status_code == 404
    assert client.post(url(other_team, "delete", pk=ours.pk)).status_code == 404
    assert DriveFile.objects.filter(pk=ours.pk).exists()


def test_anonymous_visitors_are_sent_to_log_in(team, client):
    response = client.get(url(team, "browse"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Browse ------------------------------------------------------------------------------


def test_browse_lists_folders_and_files_with_details(team, client_for):
    put(team, "/data/files/q4_sales.csv", b"x" * 2048)
    put(team, "/data/notes.md")

    response = client_for(team.member).get(url(team, "browse"), {"path": "/data/"})

    html = response.content.decode()
    assert [c.name for c in response.context["listing"].breadcrumbs] == ["Drive", "data"]
    assert 'data-folder="/data/files/"' in html
    assert 'data-path="/data/notes.md"' in html
    assert "2.0\xa0KB" in html  # the folder's total size, human readable
    assert "text/markdown" in html
    assert team.member.display_name in html
    assert 'data-confirm="Delete /data/notes.md? This cannot be undone."' in html


def test_browse_an_empty_drive_shows_an_empty_state(team, client_for):
    response = client_for(team.member).get(url(team, "browse"))

    assert b"Your Drive is empty" in response.content


def test_new_folder_opens_an_empty_folder_that_upload_will_create(team, client_for):
    client = client_for(team.member)

    response = client.get(url(team, "browse"), {"path": "/data/", "new": " reports "})

    assert response.status_code == 302
    assert response["Location"] == url(team, "browse") + "?path=%2Fdata%2Freports%2F"
    page = client.get(response["Location"])
    assert "New folder “reports”" in page.content.decode()
    assert b"uploading a file here creates it" in page.content


@pytest.mark.parametrize("name", ["..", "a\\b", ""])
def test_new_folder_refuses_bad_names(team, client_for, name):
    response = client_for(team.member).get(url(team, "browse"), {"path": "/data/", "new": name})

    assert response["Location"] == url(team, "browse") + "?path=%2Fdata%2F"
    assert messages_of(response)


def test_browse_refuses_an_invalid_folder(team, client_for):
    response = client_for(team.member).get(url(team, "browse"), {"path": "/a/../../etc/"})

    assert response.status_code == 302
    assert response["Location"] == url(team, "browse")
    assert "“..” is not allowed" in messages_of(response)[0]


def test_browse_refuses_a_folder_named_by_an_invisible_character(team, client_for):
    response = client_for(team.member).get(url(team, "browse"), {"path": "/\u200f/"})

    assert response.status_code == 302
    assert response["Location"] == url(team, "browse")
    assert "invisible character U+200F" in messages_of(response)[0]


# --- Upload ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_a_plain_form_upload_stores_files_and_redirects_with_messages(team, client_for, role):
    client = client_for(team.user(role))

    response = client.post(
        url(team, "upload"), {"folder": "/data/", "files": [file("a.csv"), file("b.md")]}
    )

    assert response.status_code == 302
    assert response["Location"] == url(team, "browse") + "?path=%2Fdata%2F"
    assert messages_of(response) == ["Uploaded /data/a.csv.", "Uploaded /data/b.md."]
    stored = DriveFile.objects.get(path="/data/a.csv")
    assert stored.uploaded_by == team.user(role)
    assert stored.sha256 == hashlib.sha256(CSV).hexdigest()


def test_an_xhr_upload_answers_json_per_file(team, client_for):
    response = client_for(team.member).post(
        url(team, "upload"), {"folder": "/", "files": [file("a.csv")]}, headers=JSON
    )

    assert response.status_code == 200
    [result] = response.json()["results"]
    drive_file = DriveFile.objects.get(path="/a.csv")
    assert result == {
        "name": "a.csv",
        "ok": True,
        "replaced": False,
        "file": {
            "id": drive_file.pk,
            "path": "/a.csv",
            "name": "a.csv",
            "size": len(CSV),
            "size_display": f"{len(CSV)}\xa0bytes",
            "content_type": "text/csv",
            "category": "text and code",
            "sha256": hashlib.sha256(CSV).hexdigest(),
            "updated_at": drive_file.updated_at.isoformat(),
            "download_url": url(team, "download", pk=drive_file.pk),
        },
    }


def test_one_bad_file_does_not_lose_the_others(team, client_for):
    uploads = [
        file("good.csv"),
        file("setup.exe", b"MZ\x90\x00"),
        file("disguised.txt", b"\x7fELF" + b"\x00" * 60),
        file("notes.md", b"# notes\n"),
    ]

    response = client_for(team.member).post(
        url(team, "upload"), {"folder": "/in/", "files": uploads}, headers=JSON
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["name"], r["ok"]) for r in results] == [
        ("good.csv", True),
        ("setup.exe", False),
        ("disguised.txt", False),
        ("notes.md", True),
    ]
    assert results[1]["error"].startswith("/in/setup.exe: “.exe” files are executables")
    assert "content looks like an executable, not a .txt file" in results[2]["error"]
    assert set(DriveFile.objects.values_list("path", flat=True)) == {"/in/good.csv", "/in/notes.md"}


def test_uploading_to_an_existing_path_fails_unless_replace_is_chosen(team, client_for):
    original = put(team, "/a.csv")
    client = client_for(team.member)

    refused = client.post(url(team, "upload"), {"files": [file("a.csv", b"new\n")]}, headers=JSON)

    assert refused.status_code == 400
    [result] = refused.json()["results"]
    assert result["exists"] is True
    assert result["error"] == (
        "/a.csv: file already exists. Choose “Replace existing files” to overwrite it."
    )
    original.refresh_from_db()
    assert original.size == len(CSV)

    replaced = client.post(
        url(team, "upload"), {"replace": "1", "files": [file("a.csv", b"new\n")]}, headers=JSON
    )

    [result] = replaced.json()["results"]
    assert result["ok"] and result["replaced"]
    original.refresh_from_db()
    assert original.size == len(b"new\n")


def test_a_plain_form_shows_the_exists_error_as_a_message(team, client_for):
    put(team, "/a.csv")

    response = client_for(team.member).post(url(team, "upload"), {"files": [file("a.csv")]})

    assert messages_of(response) == [
        "/a.csv: file already exists. Choose “Replace existing files” to overwrite it."
    ]


def test_the_size_limit_applies_to_uploads(team, client_for, settings):
    settings.DRIVE_MAX_FILE_BYTES = 1024 * 1024

    response = client_for(team.member).post(
        url(team, "upload"), {"files": [file("big.csv", b"x" * (1024 * 1024 + 1))]}, headers=JSON
    )

    assert response.status_code == 400
    [result] = response.json()["results"]
    assert result["error"] == "/big.csv: the file is larger than the 1 MB limit."


def test_upload_without_files_is_refused(team, client_for):
    response = client_for(team.member).post(url(team, "upload"), {"folder": "/"}, headers=JSON)

    assert response.status_code == 400
    assert response.json()["error"] == "Choose at least one file to upload."


def test_upload_into_an_invalid_folder_is_refused(team, client_for):
    response = client_for(team.member).post(
        url(team, "upload"), {"folder": "/../etc/", "files": [file("a.csv")]}, headers=JSON
    )

    assert response.status_code == 400
    assert "“..” is not allowed" in response.json()["error"]
    assert not DriveFile.objects.exists()


def test_upload_only_accepts_post(team, client_for):
    assert client_for(team.member).get(url(team, "upload")).status_code == 405


# --- Download ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_download_streams_the_file_as_an_attachment(team, client_for, role):
    drive_file = put(team, "/data/q4_sales.csv")

    response = client_for(team.user(role)).get(url(team, "download", pk=drive_file.pk))

    assert response.status_code == 200
    assert response.streaming
    assert body_of(response) == CSV
    assert response["Content-Disposition"] == 'attachment; filename="q4_sales.csv"'
    assert response["Content-Type"] == "text/csv"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(CSV))


def test_download_encodes_non_ascii_file_names(team, client_for):
    drive_file = put(team, "/rapport été.csv")

    response = client_for(team.member).get(url(team, "download", pk=drive_file.pk))

    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''rapport%20%C3%A9t%C3%A9.csv"
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [("page.html", b"<script>alert(1)</script>"), ("logo.svg", b"<svg onload='alert(1)'/>")],
)
def test_html_and_svg_never_render_on_our_origin(team, client_for, name, data):
    drive_file = put(team, f"/{name}", data)

    response = client_for(team.member).get(url(team, "download", pk=drive_file.pk))

    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert body_of(response) == data


def test_download_of_a_missing_file_is_404(team, client_for):
    assert client_for(team.member).get(url(team, "download", pk=12345)).status_code == 404


# --- Delete ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_delete_removes_the_file_and_returns_to_its_folder(
    team, client_for, role, django_capture_on_commit_callbacks
):
    drive_file = put(team, "/data/a.csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.user(role)).post(url(team, "delete", pk=drive_file.pk))

    assert response["Location"] == url(team, "browse") + "?path=%2Fdata%2F"
    assert messages_of(response) == ["Deleted /data/a.csv."]
    assert not DriveFile.objects.exists()


def test_delete_only_accepts_post(team, client_for):
    drive_file = put(team, "/a.csv")

    assert client_for(team.member).get(url(team, "delete", pk=drive_file.pk)).status_code == 405
    assert DriveFile.objects.exists()


# --- Admin -------------------------------------------------------------------------------


def test_operators_can_see_drive_files_but_not_change_them(team, client):
    drive_file = put(team, "/a.csv")
    operator = User.objects.create_superuser("op@turnbox.test", "pw-for-the-operator-1")
    client.force_login(operator)

    assert client.get(reverse("admin:drive_drivefile_changelist")).status_code == 200
    assert client.get(reverse("admin:drive_drivefile_add")).status_code == 403
    change = client.get(reverse("admin:drive_drivefile_change", args=[drive_file.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content


def spy_on_django_upload_handlers(monkeypatch) -> Counter:
    """Bytes that Django's own handlers (memory, temporary file) took in, per handler and file."""
    received = Counter()

    def spying(handler_class):
        real = handler_class.receive_data_chunk

        def receive_data_chunk(self, raw_data, start):
            received[handler_class.__name__, self.file_name] += len(raw_data)
            return real(self, raw_data, start)

        return receive_data_chunk

    for handler_class in (MemoryFileUploadHandler, TemporaryFileUploadHandler):
        monkeypatch.setattr(handler_class, "receive_data_chunk", spying(handler_class))
    return received


def test_an_oversized_file_is_dropped_while_it_arrives_and_the_others_are_kept(
    team, client_for, settings, monkeypatch
):
    settings.DRIVE_MAX_FILE_BYTES = limit = 1024 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    received = spy_on_django_upload_handlers(monkeypatch)
    files = [file("big.csv", b"x" * (3 * 1024 * 1024)), file("small.csv", CSV)]

    response = client_for(team.member).post(url(team, "upload"), {"files": files}, headers=JSON)

    results = {r["name"]: r for r in response.json()["results"]}
    assert results["small.csv"]["ok"] is True
    assert results["big.csv"]["error"] == "/big.csv: the file is larger than the 1 MB limit."
    assert not DriveFile.objects.filter(path="/big.csv").exists()
    # Django's handlers saw at most the limit of big.csv: it never reached the disk whole.
    spooled = received["TemporaryFileUploadHandler", "big.csv"]
    assert 0 < spooled <= limit + FileUploadHandler.chunk_size
    assert received["MemoryFileUploadHandler", "big.csv"] <= limit + FileUploadHandler.chunk_size


def test_upload_still_requires_the_csrf_token(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.member)
    response = client.post(url(team, "upload"), {"files": [file("a.csv", CSV)]}, headers=JSON)
    assert response.status_code == 403
    assert not DriveFile.objects.exists()
