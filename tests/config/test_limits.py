from asgiref.testing import ApplicationCommunicator

from config.asgi import application
from tests.conftest import run_in_new_loop


def request(headers: list[tuple[bytes, bytes]]) -> dict:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/login/",
        "raw_path": b"/login/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def run() -> dict:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await communicator.receive_output(5)
        body = await communicator.receive_output(5)
        await communicator.wait(5)
        return {"status": start["status"], "body": body["body"].decode()}

    return run_in_new_loop(run())


def test_a_body_announced_over_the_limit_is_refused_before_django_reads_it(settings):
    limit = settings.TURNBOX_MAX_REQUEST_BYTES
    response = request([(b"content-length", str(limit + 1).encode())])
    assert response["status"] == 413
    assert "larger than this server accepts (101 MB)" in response["body"]


def test_requests_within_the_limit_reach_django(db):
    response = request([(b"content-length", b"0")])
    assert response["status"] == 403  # Django's CSRF check: the request got through
