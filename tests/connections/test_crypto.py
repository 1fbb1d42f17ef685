from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db

from connections import crypto, selectors, services
from connections.models import Connection
from tests.connections.conftest import OPENAI_KEY


def _create(team, name: str = "OpenAI", secret: str = OPENAI_KEY) -> Connection:
    return services.connection_create(
        workspace=team.workspace, kind="openai", name=name, secret=secret
    )


def _raw_token(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM connections_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_keeps_no_plaintext_key_in_the_database(team):
    saved = _create(team)
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM connections_connection WHERE id = %s", [saved.pk])
        row = cursor.fetchone()
    assert not any(OPENAI_KEY in str(value) for value in row)
    assert not any(OPENAI_KEY in str(v) for v in Connection.objects.values().get().values())
    assert _raw_token(saved.pk).startswith("gAAAA")


def test_it_decrypts_what_it_encrypted(team):
    saved = _create(team)
    assert selectors.connection_secret(connection=Connection.objects.get(pk=saved.pk)) == (
        OPENAI_KEY
    )
    assert crypto.decrypt(crypto.encrypt("ünïcode key")) == "ünïcode key"


def test_it_follows_a_changed_key_setting(settings):
    token = crypto.encrypt("secret value")
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(token)


def test_it_rotates_secrets_to_a_new_first_key(team, settings, encryption_key):
    saved = _create(team)
    old_token = _raw_token(saved.pk)
    new_key = Fernet.generate_key().decode()
    settings.TURNBOX_ENCRYPTION_KEYS = [new_key, encryption_key]
    assert selectors.connection_secret(connection=saved) == OPENAI_KEY  # old key still reads

    out = _rotate()

    assert "Rotated 1 secret(s)" in out
    assert _raw_token(saved.pk) != old_token
    settings.TURNBOX_ENCRYPTION_KEYS = [new_key]
    assert selectors.connection_secret(connection=Connection.objects.get(pk=saved.pk)) == (
        OPENAI_KEY
    )


def test_running_rotation_twice_is_harmless(team, settings, encryption_key):
    saved = _create(team)
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), encryption_key]
    _rotate()
    token_after_first_run = _raw_token(saved.pk)

    out = _rotate()

    assert "Rotated 0 secret(s) to the first key; 1 already used it." in out
    assert _raw_token(saved.pk) == token_after_first_run
    assert selectors.connection_secret(connection=saved) == OPENAI_KEY


def test_rotation_skips_connections_without_a_key(team):
    services.connection_create(
        workspace=team.workspace,
        kind="openai",
        name="Ollama",
        secret="",
        base_url="http://localhost:11434/v1",
    )
    assert "Rotated 0 secret(s) to the first key; 0 already used it." in _rotate()


def test_it_refuses_to_pretend_unreadable_secrets_were_rotated(team, settings):
    saved = _create(team)
    settings.TURNBOX_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match=f"connection ids {saved.pk}"):
        _rotate()


def _rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()
