import pytest
from django.core.exceptions import ValidationError

from connections import services
from connections.models import Connection
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
