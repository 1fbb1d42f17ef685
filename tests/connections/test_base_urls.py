import httpcore2
import httpx2
import pytest
from django.core.exceptions import ValidationError

from connections import base_urls, services
from connections.models import Connection
from tests.conftest import run_in_new_loop
from tests.connections.conftest import OPENAI_KEY


@pytest.fixture(autouse=True)
def private_servers_refused(settings) -> None:
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = False


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:6379",
        "http://localhost:5432/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/v1",
        "http://[::1]:8000/v1",
        "http://0.0.0.0:8000",
    ],
)
def test_it_refuses_servers_on_private_or_local_addresses(team, base_url):
    with pytest.raises(ValidationError) as caught:
        services.connection_create(
            workspace=team.workspace, kind="openai", name="X", secret=OPENAI_KEY, base_url=base_url
        )
    message = caught.value.message_dict["base_url"][0]
    assert "private or local address" in message
    assert "TURNBOX_ALLOW_PRIVATE_BASE_URLS=true" in message


def test_the_test_button_refuses_a_name_that_now_points_inside(team, settings, fake_provider):
    server = fake_provider(OPENAI_KEY)
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    connection = services.connection_create(
        workspace=team.workspace, kind="openai", name="X", secret=OPENAI_KEY, base_url=server.url
    )
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = False
    result = services.connection_check(connection=connection)
    assert not result.ok
    assert "private or local address" in result.message
    assert server.requests == []


def test_a_stored_key_is_not_sent_to_a_new_server(team):
    connection = services.connection_create(
        workspace=team.workspace, kind="openai", name="X", secret=OPENAI_KEY
    )
    with pytest.raises(ValidationError) as caught:
        services.connection_update(
            connection=connection, name="X", base_url="https://attacker.example/v1"
        )
    assert "paste the key again" in caught.value.message_dict["secret"][0]
    assert Connection.objects.get(pk=connection.pk).base_url == ""
    services.connection_update(
        connection=connection,
        name="X",
        base_url="https://attacker.example/v1",
        secret="sk-fresh-key-for-that-server",
    )
    connection.refresh_from_db()
    assert connection.base_url == "https://attacker.example/v1"


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_clearing_the_base_url_asks_for_the_key_again(team, settings, kind):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    connection = services.connection_create(
        workspace=team.workspace,
        kind=kind,
        name="Own server",
        secret="sk-entered-for-my-own-server",
        base_url="http://localhost:11434/v1",
    )
    # Empty means the provider's public default host: the key would go there.
    with pytest.raises(ValidationError) as caught:
        services.connection_update(connection=connection, name="Own server", base_url="")
    assert "paste the key again" in caught.value.message_dict["secret"][0]
    assert Connection.objects.get(pk=connection.pk).base_url == "http://localhost:11434/v1"


def test_spelling_the_default_port_out_is_not_a_move(team):
    connection = services.connection_create(
        workspace=team.workspace, kind="openai", name="X", secret=OPENAI_KEY
    )
    services.connection_update(
        connection=connection, name="X", base_url="https://api.openai.com:443/v1"
    )
    connection.refresh_from_db()
    assert connection.base_url == "https://api.openai.com:443/v1"


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_name_that_turns_private_after_the_check_is_refused_at_connection(
    team, settings, fake_provider, monkeypatch, kind
):
    server = fake_provider(OPENAI_KEY)
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    connection = services.connection_create(
        workspace=team.workspace, kind=kind, name="X", secret=OPENAI_KEY, base_url=server.url
    )
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = False
    # The check answers "public" (as a rebinding name would); the connection must not.
    monkeypatch.setattr(base_urls, "private_address_problem", lambda url: "")
    result = services.connection_check(connection=connection)
    assert not result.ok
    assert "resolved to a private or local address (127.0.0.1)" in result.message
    assert server.requests == []


def test_public_servers_are_reached_through_the_checked_address(monkeypatch):
    seen = []
    monkeypatch.setattr(
        base_urls.socket,
        "getaddrinfo",
        lambda host, port, **kw: seen.append(host) or [(2, 1, 6, "", ("93.184.215.14", port))],
    )
    assert base_urls.public_address("api.example.com", 443) == "93.184.215.14"
    assert seen == ["api.example.com"]


def test_async_clients_get_the_guarded_transport_unless_private_servers_are_allowed(settings):
    assert isinstance(base_urls.async_transport_for_base_urls(), base_urls.AsyncGuardedTransport)
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    assert base_urls.async_transport_for_base_urls() is None


def test_the_async_transport_refuses_a_private_address_at_connection(fake_provider):
    server = fake_provider(OPENAI_KEY)

    async def request() -> None:
        async with httpx2.AsyncClient(transport=base_urls.AsyncGuardedTransport()) as client:
            await client.get(server.url + "/v1/models")

    with pytest.raises(httpx2.ConnectError) as caught:
        run_in_new_loop(request())
    assert "resolved to a private or local address (127.0.0.1)" in str(caught.value)
    assert server.requests == []


def test_the_async_transport_connects_to_the_checked_public_address(monkeypatch):
    monkeypatch.setattr(
        base_urls.socket,
        "getaddrinfo",
        lambda host, port, **kw: [(2, 1, 6, "", ("93.184.215.14", port))],
    )
    connected = []

    async def connect_tcp(self, host, port, *args, **kwargs):
        connected.append((host, port))
        raise httpcore2.ConnectError("stopped here: the test has seen the address")

    monkeypatch.setattr(httpcore2.AnyIOBackend, "connect_tcp", connect_tcp)

    async def request() -> None:
        async with httpx2.AsyncClient(transport=base_urls.AsyncGuardedTransport()) as client:
            await client.get("https://api.example.com/v1/models")

    with pytest.raises(httpx2.ConnectError):
        run_in_new_loop(request())
    assert connected == [("93.184.215.14", 443)]
