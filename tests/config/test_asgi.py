"""The production server path: Daphne serving the ASGI app, static files from WhiteNoise
with hashed names, exactly as the README's run command and the image serve them."""

import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.config.test_settings import ROOT, clean_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = clean_env(tmp_path_factory.mktemp("data"), TURNBOX_SANDBOX_POOL_SIZE="0")
    for command in (["migrate", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    port = free_port()
    daphne = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, daphne)
        yield url
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Daphne exited: {process.stderr.read().decode()}")
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("Daphne did not answer in time.")


def test_daphne_serves_the_login_page_and_its_hashed_static_files(server):
    with urllib.request.urlopen(f"{server}/login/") as response:
        assert response.status == 200
        page = response.read().decode()
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1)
    with urllib.request.urlopen(f"{server}{stylesheet}") as response:
        assert response.headers["Content-Type"].startswith("text/css")
        assert "max-age=315360000" in response.headers["Cache-Control"]
        assert b".sidebar" in response.read()


def test_pages_carry_the_security_headers(server):
    with urllib.request.urlopen(f"{server}/login/") as response:
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
