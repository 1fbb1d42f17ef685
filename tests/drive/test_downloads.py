"""Downloads stream in chunks under ASGI (Daphne) as under WSGI, never read whole first."""

import asyncio
import warnings

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.files.base import ContentFile
from django.db import connections
from django.urls import reverse

from drive import downloads, selectors, services
from tests.conftest import run_in_new_loop

# Three and a half chunks, with every byte value, so a lost or reordered chunk shows.
DATA = bytes(range(256)) * (downloads.CHUNK_BYTES * 7 // 2 // 256)

pytestmark = pytest.mark.django_db(transaction=True)


def stored(team, data: bytes = DATA):
    return services.drive_file_upload(
        workspace=team.workspace, path="/data/big.csv", content=ContentFile(data)
    )


def download_url(team, drive_file) -> str:
    return reverse("drive:download", kwargs={"ws": team.workspace.slug, "pk": drive_file.pk})


def run(coroutine):
    """asyncio.run (pytest-asyncio is not installed), then close the database connection
    the view opened in asgiref's worker thread: left open, it blocks dropping the test
    database on PostgreSQL."""

    async def main():
        try:
            return await coroutine
        finally:
            await sync_to_async(connections.close_all)()

    return run_in_new_loop(main())


@pytest.fixture
def opened_files(monkeypatch) -> list:
    """The files the download view opens, to see how far each was read."""
    opened = []
    real_open = selectors.drive_file_open

    def spy(**kwargs):
        opened.append(real_open(**kwargs))
        return opened[-1]

    monkeypatch.setattr(selectors, "drive_file_open", spy)
    return opened


def test_under_asgi_the_content_is_an_async_stream_of_chunks(team, async_client, opened_files):
    drive_file = stored(team)
    async_client.force_login(team.member)

    async def fetch():
        response = await async_client.get(download_url(team, drive_file))
        chunks, read_at_first_chunk = [], None
        async for chunk in response.streaming_content:
            read_at_first_chunk = read_at_first_chunk or opened_files[0].tell()
            chunks.append(chunk)
        return response, chunks, read_at_first_chunk

    response, chunks, read_at_first_chunk = run(fetch())

    assert response.status_code == 200
    assert response.is_async
    assert b"".join(chunks) == DATA
    assert [len(c) for c in chunks] == [downloads.CHUNK_BYTES] * 3 + [downloads.CHUNK_BYTES // 2]
    assert read_at_first_chunk == downloads.CHUNK_BYTES  # not the whole file up front
    assert response["Content-Length"] == str(len(DATA))
    assert response["Content-Disposition"] == 'attachment; filename="big.csv"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-cache"
    assert opened_files[0].closed


def test_under_asgi_the_name_is_encoded_for_the_header(team, async_client):
    drive_file = services.drive_file_upload(
        workspace=team.workspace, path="/rapport été.csv", content=ContentFile(b"a,b\n")
    )
    async_client.force_login(team.member)

    response = run(async_client.get(download_url(team, drive_file)))

    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''rapport%20%C3%A9t%C3%A9.csv"
    )


def test_the_asgi_server_sends_the_first_bytes_before_reading_the_rest(
    team, client_for, opened_files
):
    drive_file = stored(team)
    cookie = client_for(team.member).cookies[settings.SESSION_COOKIE_NAME].value

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages, read_at_first_body = run_in_new_loop(
            serve_asgi(download_url(team, drive_file), cookie, opened_files)
        )

    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert messages[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in bodies) == DATA
    assert read_at_first_body < len(DATA)
    assert not [w for w in caught if "iterators" in str(w.message)]


async def serve_asgi(path: str, session: str, opened_files: list) -> tuple[list[dict], int]:
    """One GET through Django's ASGI handler, as Daphne makes it."""
    messages, read_at_first_body = [], None
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # The client stays connected until the end.
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal read_at_first_body
        if message["type"] == "http.response.body" and read_at_first_body is None:
            read_at_first_body = opened_files[0].tell()
        messages.append(message)

    cookie = f"{settings.SESSION_COOKIE_NAME}={session}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await get_asgi_application()(scope, receive, send)
    return messages, read_at_first_body


def test_under_wsgi_the_content_is_a_plain_stream_of_chunks(team, client_for, opened_files):
    drive_file = stored(team)

    response = client_for(team.member).get(download_url(team, drive_file))

    assert not response.is_async
    first = next(iter(response.streaming_content))
    assert len(first) == downloads.CHUNK_BYTES
    assert opened_files[0].tell() == downloads.CHUNK_BYTES
    assert first + b"".join(response.streaming_content) == DATA
