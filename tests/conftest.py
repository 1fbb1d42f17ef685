"""Shared fixtures: two workspaces with one person per role, logged-in clients, and a
real Chromium (Debian's package) driven by Playwright against Django's live server."""

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.db import connection, connections
from django.test import Client

from config.storages import local_drive
from workspaces.models import Membership, Role, User, Workspace

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path) -> None:
    """Drive files go to a fresh folder per test; static files need no collectstatic."""
    drive = local_drive(str(tmp_path / "drive"))
    settings.STORAGES = {
        "default": drive,
        "drive": drive,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite's test database is a file, not memory: the ASGI live server runs in another
    process and must see the same data."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(autouse=True)
def _no_warm_pool(settings) -> None:
    # A pool starts containers in the background; only the tests that want one get one.
    settings.TURNBOX_SANDBOX_POOL_SIZE = 0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The real hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Team:
    workspace: Workspace
    admin: User
    member: User
    finance: User

    def user(self, role: str) -> User:
        return getattr(self, role)


def _make_team(name: str, slug: str) -> Team:
    workspace = Workspace.objects.create(name=name, slug=slug)
    people = {}
    for role in Role.values:
        user = User.objects.create_user(f"{role}@{slug}.test", PASSWORD, full_name=f"{role} {name}")
        Membership.objects.create(user=user, workspace=workspace, role=role)
        people[role] = user
    return Team(workspace=workspace, **people)


@pytest.fixture
def team(db) -> Team:
    return _make_team("Acme", "acme")


@pytest.fixture
def other_team(db) -> Team:
    return _make_team("Globex", "globex")


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: the test command runs the suite on it too",
)


def run_at_once(*calls, refusals: tuple[type[Exception], ...]) -> list:
    """Runs each call in its own thread, all released at the same moment. Returns "ok" or
    the refusal each call raised; anything else raised is a bug and fails the test."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i: int, call: Callable) -> None:
        try:
            barrier.wait()
            call()
            outcomes[i] = "ok"
        except refusals as error:
            outcomes[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in outcomes, "a call raised something other than a refusal"
    return outcomes


def database_url() -> str:
    """The test database, for another process: pytest-django has pointed settings at it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    port = f":{database['PORT']}" if database["PORT"] else ""
    return f"postgres://{credentials}@{database['HOST']}{port}/{quote(database['NAME'])}"


def run_in_new_loop(coroutine):
    """asyncio.run in a thread of its own: once a browser test has started Playwright's
    sync API, an event loop stays running in the main thread and asyncio.run refuses."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def socket_accepts(path: str, user, *, origin: str = "http://localhost", cookie: bool = True):
    """Whether the whole ASGI application (session cookie, origin check, routing) lets
    ``user``'s browser open the websocket at ``path``."""
    from channels.testing import WebsocketCommunicator

    from agents.bench import login_cookie
    from config.asgi import application

    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", login_cookie(user).encode()))

    async def attempt() -> bool:
        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await socket.connect(timeout=10)
        await socket.disconnect()
        return connected

    return run_in_new_loop(attempt())


# --- Email -----------------------------------------------------------------------------


@dataclass
class Inbox:
    """What a real SMTP server (aiosmtpd) received: one email.message per message."""

    messages: list

    async def handle_DATA(self, server, session, envelope) -> str:
        from email import message_from_bytes
        from email.policy import default

        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["X-Envelope-To"] == address]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings) -> Iterator[Inbox]:
    """A real SMTP server on a free port, and settings that send all email through it, as
    EMAIL_URL=smtp://127.0.0.1:<port> would."""
    from aiosmtpd.controller import Controller

    inbox = Inbox(messages=[])
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.TURNBOX_EMAIL_DELIVERS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield inbox
    finally:
        controller.stop()


# --- Browser ---------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = os.environ.get("TURNBOX_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Chromium is not installed: run the README's test command, which installs it.")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator:
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by
    # the test itself (fixtures, assertions) are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def asgi_live_server(transactional_db, settings) -> Iterator["AsgiLiveServer"]:
    """The real ASGI application (HTTP and websockets) served by Daphne in a child
    process, as production runs it. The child is forked, so it sees this test's settings
    and its test database (a file: see django_db_modify_db_settings)."""
    from functools import partial

    from channels.routing import get_default_application
    from channels.testing.live import set_database_connection
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    def make_application():
        return ASGIStaticFilesHandler(get_default_application())

    process = DaphneProcess(
        "127.0.0.1",
        partial(_call, make_application),
        setup=partial(_after_fork, set_database_connection),
    )
    process.start()
    if not process.ready.wait(timeout=30):
        process.terminate()
        pytest.fail("Daphne did not start listening within 30 seconds.")
    try:
        yield AsgiLiveServer(f"http://127.0.0.1:{process.port.value}")
    finally:
        process.terminate()
        process.join(10)


def _call(function):
    return function()


def _after_fork(set_database_connection) -> None:
    """The child is forked from a test process that may have used threads: executors
    whose worker threads did not survive the fork would take work and never run it."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync
    from channels.layers import channel_layers

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    channel_layers.backends.clear()
    set_database_connection()


@dataclass(frozen=True)
class AsgiLiveServer:
    url: str

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture
def asgi_page(browser, asgi_live_server) -> Iterator:
    context = browser.new_context(
        base_url=asgi_live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login(page) -> Callable[[User], None]:
    def do_login(user: User, password: str = PASSWORD) -> None:
        page.goto("/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("[data-testid=current-workspace]")

    return do_login
