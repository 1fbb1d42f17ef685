import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from connections import selectors, services
from connections.models import Connection
from connections.signals import CONNECTION_DELETED, KEY_REVOKED, pixelml_withdrawn
from tests.connections.conftest import ANTHROPIC_KEY, OPENAI_KEY


def _errors(**kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        services.connection_create(**kwargs)
    return caught.value.message_dict


def test_it_creates_a_provider_connection_with_a_masked_hint(team):
    created = services.connection_create(
        workspace=team.workspace,
        kind="anthropic",
        name=" Claude ",
        secret=f" {ANTHROPIC_KEY} ",
        default_model="claude-sonnet-4-5",
        created_by=team.admin,
    )
    assert (created.name, created.secret_hint, created.created_by) == (
        "Claude",
        "sk-…uI8o",
        team.admin,
    )
    assert selectors.connection_secret(connection=created) == ANTHROPIC_KEY
    assert created.last_check_ok is None


def test_it_refuses_an_unknown_kind(team):
    errors = _errors(workspace=team.workspace, kind="gemini", name="G", secret=OPENAI_KEY)
    assert errors["kind"] == ["Unknown kind of connection: 'gemini'."]


def test_it_refuses_a_duplicate_name_in_the_same_workspace(team, other_team):
    services.connection_create(
        workspace=team.workspace, kind="openai", name="Main", secret="k" * 20
    )
    errors = _errors(workspace=team.workspace, kind="anthropic", name="main", secret="k" * 20)
    assert errors["name"] == ["This workspace already has a connection named “main”."]
    services.connection_create(
        workspace=other_team.workspace, kind="openai", name="Main", secret="k" * 20
    )


def test_it_refuses_a_provider_connection_without_a_key(team):
    errors = _errors(workspace=team.workspace, kind="openai", name="OpenAI", secret=" ")
    assert "Paste the API key" in errors["secret"][0]
    errors = _errors(
        workspace=team.workspace,
        kind="anthropic",
        name="Claude",
        secret="",
        base_url="http://localhost:8080",
    )
    assert errors["secret"] == ["Paste the Anthropic API key."]


def test_it_allows_no_key_for_an_openai_compatible_server_with_a_base_url(team):
    created = services.connection_create(
        workspace=team.workspace,
        kind="openai",
        name="Ollama",
        secret="",
        base_url="http://ollama:11434/v1/",
        default_model="llama3.2",
    )
    assert (created.secret_encrypted, created.secret_hint) == ("", "")
    assert created.base_url == "http://ollama:11434/v1"
    assert selectors.connection_secret(connection=created) == ""


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://models.example.com/v1", "Use an http:// or https:// URL"),
        ("javascript:alert(1)", "Use an http:// or https:// URL"),
        ("localhost:11434", "Use an http:// or https:// URL"),
        ("http://[::1/v1", "Use an http:// or https:// URL"),
        ("http://localhost:port/v1", "Use an http:// or https:// URL"),
        ("http://user:pw@example.com/v1", "Put credentials in the key field"),
        ("http://example.com/v1?key=1", "cannot have a query"),
        ("http://exa mple.com", "cannot contain spaces"),
    ],
)
def test_it_refuses_a_bad_base_url(team, base_url, message):
    errors = _errors(
        workspace=team.workspace, kind="openai", name="X", secret=OPENAI_KEY, base_url=base_url
    )
    assert message in errors["base_url"][0]


def test_it_reports_every_problem_at_once_keyed_by_field(team):
    errors = _errors(
        workspace=team.workspace, kind="anthropic", name="", secret="", base_url="ftp://x"
    )
    assert set(errors) == {"name", "base_url", "secret"}


def test_it_refuses_values_longer_than_the_columns(team):
    errors = _errors(
        workspace=team.workspace,
        kind="openai",
        name="n" * 101,
        secret=OPENAI_KEY,
        default_model="m" * 201,
    )
    assert set(errors) == {"name", "default_model"}


def test_it_deletes_a_connection(team):
    created = services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )
    services.connection_delete(connection=created)
    assert not Connection.objects.exists()


def test_it_finds_connections_only_within_their_workspace(team, other_team):
    created = services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )
    assert selectors.connection_get(workspace=team.workspace, pk=created.pk) == created
    assert list(selectors.connections_of_workspace(workspace=other_team.workspace)) == []
    with pytest.raises(Http404):
        selectors.connection_get(workspace=other_team.workspace, pk=created.pk)


def test_it_records_an_unreadable_secret_as_a_failed_check(team, settings):
    created = services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )
    settings.TURNBOX_ENCRYPTION_KEYS = ["ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="]
    result = services.connection_check(connection=created)
    assert not result.ok
    assert result.message == services.UNDECRYPTABLE_KEY
    created.refresh_from_db()
    assert created.last_check_ok is False


def test_it_replaces_a_key_and_forgets_the_last_test(team):
    connection = services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )
    Connection.objects.filter(pk=connection.pk).update(last_check_ok=True)
    connection.refresh_from_db()
    services.connection_update(connection=connection, name="OpenAI", secret="sk-new-key-abcdef9876")
    connection.refresh_from_db()
    assert selectors.connection_secret(connection=connection) == "sk-new-key-abcdef9876"
    assert connection.secret_hint == "sk-…9876"
    assert connection.last_check_ok is None


def test_an_edit_with_an_empty_key_keeps_the_key_and_the_last_test(team):
    connection = services.connection_create(
        workspace=team.workspace, kind="anthropic", name="Claude", secret=ANTHROPIC_KEY
    )
    Connection.objects.filter(pk=connection.pk).update(last_check_ok=True)
    connection.refresh_from_db()
    services.connection_update(connection=connection, name="Claude 2", default_model="opus")
    connection.refresh_from_db()
    assert selectors.connection_secret(connection=connection) == ANTHROPIC_KEY
    assert (connection.name, connection.default_model, connection.last_check_ok) == (
        "Claude 2",
        "opus",
        True,
    )


def test_an_edit_refuses_another_connections_name_and_changes_nothing(team):
    services.connection_create(
        workspace=team.workspace, kind="openai", name="Taken", secret=OPENAI_KEY
    )
    connection = services.connection_create(
        workspace=team.workspace, kind="openai", name="Mine", secret=OPENAI_KEY
    )
    with pytest.raises(ValidationError) as caught:
        services.connection_update(connection=connection, name="taken", secret="sk-other-1234")
    assert "already has a connection named" in caught.value.message_dict["name"][0]
    assert connection.name == "Mine"  # also the caller's object
    connection.refresh_from_db()
    assert connection.name == "Mine"
    assert selectors.connection_secret(connection=connection) == OPENAI_KEY


def test_a_pixelml_connection_takes_only_a_new_name(team, issued_key):
    _, key = issued_key
    connection = services.connection_create(
        workspace=team.workspace, kind="pixelml", name="PixelML", secret=key
    )
    with pytest.raises(ValidationError) as caught:
        services.connection_update(connection=connection, name="Billing", secret="pxm_other")
    assert "keeps its key" in caught.value.message_dict["secret"][0]
    services.connection_update(connection=connection, name="Billing")
    connection.refresh_from_db()
    assert connection.name == "Billing"
    assert selectors.connection_secret(connection=connection) == key


@pytest.fixture
def withdrawn():
    """What the apps using PixelML connections are told."""
    heard = []

    def listener(*, workspace_ids, why, **_) -> None:
        heard.append((workspace_ids, why))

    pixelml_withdrawn.connect(listener, dispatch_uid="test-withdrawn")
    yield heard
    pixelml_withdrawn.disconnect(dispatch_uid="test-withdrawn")


def test_deleting_a_pixelml_connection_tells_the_apps_once_committed(
    team, issued_key, withdrawn, django_capture_on_commit_callbacks
):
    pixelml = services.connection_create(
        workspace=team.workspace, kind="pixelml", name="PixelML", secret=issued_key[1]
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.connection_delete(connection=pixelml)
        assert withdrawn == []  # not before the delete is committed

    assert withdrawn == [([team.workspace.pk], CONNECTION_DELETED)]
    assert not Connection.objects.filter(pk=pixelml.pk).exists()


def test_revoking_a_key_tells_the_apps_of_every_workspace_using_it_once(
    team, other_team, issued_key, withdrawn, django_capture_on_commit_callbacks
):
    for workspace in (team.workspace, other_team.workspace):
        services.connection_create(
            workspace=workspace, kind="pixelml", name="PixelML", secret=issued_key[1]
        )

    with django_capture_on_commit_callbacks(execute=True):
        services.pixelml_key_revoke(key=issued_key[0])
        services.pixelml_key_revoke(key=issued_key[0])

    [(workspace_ids, why)] = withdrawn
    assert sorted(workspace_ids) == sorted([team.workspace.pk, other_team.workspace.pk])
    assert why == KEY_REVOKED


def test_other_connections_are_deleted_without_a_word(team, withdrawn):
    created = services.connection_create(
        workspace=team.workspace, kind="openai", name="OpenAI", secret=OPENAI_KEY
    )

    services.connection_delete(connection=created)

    assert withdrawn == [] and not Connection.objects.exists()
