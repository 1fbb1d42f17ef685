"""The Test button's real requests, through the official SDKs, to a local fake server."""

import pytest

from connections import providers, services
from connections.models import Connection
from tests.connections.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.connections.fake_provider import unused_port

WRONG_KEY = "sk-proj-WrongWrongWrong9876"


def _connection(team, kind: str, secret: str, base_url: str) -> Connection:
    return services.connection_create(
        workspace=team.workspace, kind=kind, name=kind, secret=secret, base_url=base_url
    )


def test_it_confirms_a_good_openai_key(team, fake_provider):
    server = fake_provider(OPENAI_KEY)
    connection = _connection(team, "openai", OPENAI_KEY, f"{server.url}/v1")

    result = services.connection_check(connection=connection)

    assert result == providers.CheckResult(True, "Connected: the provider lists 2 models.")
    assert server.requests[0]["path"] == "/v1/models"
    connection.refresh_from_db()
    assert connection.last_check_ok is True
    assert connection.last_checked_at.tzinfo is not None
    assert connection.last_check_message == result.message


def test_it_explains_a_rejected_openai_key_without_repeating_it(team, fake_provider):
    server = fake_provider(OPENAI_KEY)
    connection = _connection(team, "openai", WRONG_KEY, f"{server.url}/v1")

    result = services.connection_check(connection=connection)

    assert not result.ok
    assert result.message == (
        "The provider rejected the key (401): Incorrect API key provided: sk-…9876."
    )
    connection.refresh_from_db()
    assert connection.last_check_ok is False
    assert WRONG_KEY not in connection.last_check_message


def test_it_confirms_a_good_anthropic_key(team, fake_provider):
    server = fake_provider(ANTHROPIC_KEY)
    connection = _connection(team, "anthropic", ANTHROPIC_KEY, server.url)

    result = services.connection_check(connection=connection)

    assert result.ok, result.message
    assert "anthropic-version" in server.requests[0]


def test_it_explains_a_rejected_anthropic_key_without_repeating_it(team, fake_provider):
    server = fake_provider(ANTHROPIC_KEY)
    wrong = "sk-ant-api03-NotTheRightOne42"
    connection = _connection(team, "anthropic", wrong, server.url)

    result = services.connection_check(connection=connection)

    assert result.message == "The provider rejected the key (401): invalid x-api-key sk-…ne42"
    assert wrong not in result.message


def test_a_server_without_keys_never_receives_the_operators_key(team, fake_provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-own-key-0000")
    server = fake_provider(None)
    connection = _connection(team, "openai", "", f"{server.url}/v1")

    assert services.connection_check(connection=connection).ok
    sent = {k.lower(): v for k, v in server.requests[0].items()}
    assert "sk-operator-own-key-0000" not in str(sent)
    assert sent["authorization"] == f"Bearer {providers.NO_KEY_PLACEHOLDER}"


def test_it_says_when_the_server_cannot_be_reached(team):
    base_url = f"http://127.0.0.1:{unused_port()}/v1"
    connection = _connection(team, "openai", OPENAI_KEY, base_url)

    result = services.connection_check(connection=connection)

    assert not result.ok
    assert result.message.startswith(f"Could not reach {base_url}: connection refused")


def test_it_says_when_the_host_name_does_not_resolve(team):
    connection = _connection(team, "anthropic", ANTHROPIC_KEY, "http://no-such-host.invalid")
    result = services.connection_check(connection=connection)
    assert result.message == (
        "Could not reach http://no-such-host.invalid: the host name could not be resolved."
    )


def test_it_says_when_a_base_url_is_not_an_openai_compatible_api(team, fake_provider):
    server = fake_provider(None)
    connection = _connection(team, "openai", OPENAI_KEY, server.url)  # missing /v1

    result = services.connection_check(connection=connection)

    assert not result.ok
    assert result.message.startswith(f"{server.url} has no models endpoint (404)")
    assert "usually ends in /v1" in result.message


def test_it_gives_up_after_the_timeout(team, fake_provider, monkeypatch):
    monkeypatch.setattr(providers, "TIMEOUT_SECONDS", 0.3)
    server = fake_provider(OPENAI_KEY, slow_seconds=2)
    connection = _connection(team, "openai", OPENAI_KEY, f"{server.url}/v1")

    result = services.connection_check(connection=connection)

    assert result.message == f"No answer from {server.url}/v1 within 0.3 seconds."


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (403, {"error": {"message": "no access"}}, "not allowed to list models (403): no access"),
        (429, {"error": {"message": "quota"}}, "rate-limiting or out of quota (429): quota"),
        (503, "upstream down", "internal error (503): upstream down"),
        (418, None, "The provider answered 418: no details given."),
    ],
)
def test_it_puts_other_provider_errors_in_plain_words(status, body, expected):
    import httpx2
    import openai

    request = httpx2.Request("GET", "http://llm.test/v1/models")
    response = httpx2.Response(status, request=request)
    error = openai.APIStatusError("raw", response=response, body=body)
    assert expected in providers.describe_error(error, where="http://llm.test/v1")


def test_one_listed_model_is_counted_in_the_singular(team, fake_provider, settings):
    settings.TURNBOX_ALLOW_PRIVATE_BASE_URLS = True
    server = fake_provider(None, models=("smollm2",))
    connection = _connection(team, "openai", "", f"{server.url}/v1")
    result = services.connection_check(connection=connection)
    assert result.message == "Connected: the provider lists 1 model."
