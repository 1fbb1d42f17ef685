import hashlib
import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from connections import selectors, services
from connections.models import Connection, PixelMLKey
from workspaces.models import User


def _add(team, key: str, name: str = "PixelML") -> Connection:
    return services.connection_create(
        workspace=team.workspace, kind="pixelml", name=name, secret=key
    )


def test_an_issued_key_switches_code_execution_on(team, other_team, issued_key):
    record, plaintext = issued_key
    assert not selectors.workspace_has_active_pixelml(workspace=team.workspace)

    connection = _add(team, plaintext)

    assert connection.pixelml_key == record
    assert selectors.workspace_has_active_pixelml(workspace=team.workspace)
    assert selectors.active_pixelml_connection(workspace=team.workspace) == connection
    assert not selectors.workspace_has_active_pixelml(workspace=other_team.workspace)
    assert connection.secret_hint == f"pxm_…{plaintext[-4:]}"


def test_it_issues_keys_that_are_stored_only_as_a_hash(issued_key):
    record, plaintext = issued_key
    assert re.fullmatch(r"pxm_[A-Za-z0-9_-]{43}", plaintext)
    row = PixelMLKey.objects.values().get(pk=record.pk)
    assert not any(plaintext in str(value) for value in row.values())
    assert row["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert record.prefix == plaintext[4:12]
    assert record.display_prefix == f"pxm_{plaintext[4:12]}…"


def test_it_refuses_a_wrong_key_with_a_clear_message(team, issued_key):
    _, plaintext = issued_key
    with pytest.raises(ValidationError) as caught:
        _add(team, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
    assert caught.value.message_dict["secret"] == [
        "This PixelML key is not valid or has been revoked."
    ]
    assert not Connection.objects.exists()


def test_it_refuses_a_revoked_key(team, issued_key):
    record, plaintext = issued_key
    services.pixelml_key_revoke(key=record)
    with pytest.raises(ValidationError, match="not valid or has been revoked"):
        _add(team, plaintext)


def test_revoking_the_key_switches_code_execution_off(team, issued_key):
    record, plaintext = issued_key
    connection = _add(team, plaintext)

    services.pixelml_key_revoke(key=record)

    assert not selectors.workspace_has_active_pixelml(workspace=team.workspace)
    assert selectors.active_pixelml_connection(workspace=team.workspace) is None
    connection.refresh_from_db()
    assert not connection.is_active
    result = services.connection_check(connection=connection)
    assert (result.ok, result.message) == (False, services.INVALID_PIXELML_KEY)


def test_revoking_twice_keeps_the_first_revocation_time(issued_key):
    record, _ = issued_key
    first = services.pixelml_key_revoke(key=record).revoked_at
    assert first is not None and first.tzinfo is not None
    assert services.pixelml_key_revoke(key=record).revoked_at == first


def test_the_test_button_confirms_a_valid_key(team, issued_key):
    connection = _add(team, issued_key[1])
    result = services.connection_check(connection=connection)
    assert result.ok
    assert "billed to Acme Corp" in result.message
    connection.refresh_from_db()
    assert connection.last_check_ok is True


def test_it_allows_one_pixelml_connection_per_workspace(team, other_team, issued_key):
    _add(team, issued_key[1])
    _, second = services.pixelml_key_issue(name="Acme Corp, second account")
    with pytest.raises(ValidationError) as caught:
        _add(team, second, name="PixelML 2")
    assert "already has a PixelML connection (“PixelML”)" in caught.value.message_dict["kind"][0]
    _add(other_team, second)


def test_it_refuses_provider_fields_on_a_pixelml_connection(team, issued_key):
    with pytest.raises(ValidationError) as caught:
        services.connection_create(
            workspace=team.workspace,
            kind="pixelml",
            name="PixelML",
            secret=issued_key[1],
            base_url="https://example.com",
            default_model="gpt-4o",
        )
    assert set(caught.value.message_dict) == {"base_url", "default_model"}


def test_the_command_prints_a_key_that_verifies(db):
    out, err = StringIO(), StringIO()
    call_command("issue_pixelml_key", "--name", "Acme Corp", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    found = selectors.pixelml_key_find(key=plaintext)
    assert found is not None and found.name == "Acme Corp"
    assert "shown only now" in err.getvalue()
    assert plaintext not in str(PixelMLKey.objects.values().get())


# --- Operator admin ----------------------------------------------------------------


@pytest.fixture
def operator(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@turnbox.test", "x" * 16))
    return client


def test_the_operator_issues_a_key_that_is_shown_once(operator):
    response = operator.post(
        "/operator/connections/pixelmlkey/add/", {"name": "Globex"}, follow=True
    )
    plaintext = re.search(r"pxm_[A-Za-z0-9_-]{43}", response.content.decode()).group(0)
    record = selectors.pixelml_key_find(key=plaintext)
    assert record is not None and record.name == "Globex"
    assert record.created_by.email == "ops@turnbox.test"
    change_page = operator.get(f"/operator/connections/pixelmlkey/{record.pk}/change/")
    assert plaintext not in change_page.content.decode()
    assert record.key_hash not in change_page.content.decode()
    assert plaintext not in operator.get("/operator/connections/pixelmlkey/").content.decode()


def test_the_operator_revokes_keys_with_the_list_action(operator, issued_key):
    record, _ = issued_key
    response = operator.post(
        "/operator/connections/pixelmlkey/",
        {"action": "revoke", "_selected_action": [record.pk]},
        follow=True,
    )
    assert "Revoked 1 key(s)" in response.content.decode()
    record.refresh_from_db()
    assert record.is_revoked


def test_the_operator_sees_connections_without_their_secret(operator, team, issued_key):
    connection = _add(team, issued_key[1])
    responses = [
        operator.get("/operator/connections/connection/"),
        operator.get(f"/operator/connections/connection/{connection.pk}/change/"),
    ]
    assert [r.status_code for r in responses] == [200, 200]
    pages = [r.content.decode() for r in responses]
    for html in pages:
        assert issued_key[1] not in html
        assert connection.secret_encrypted not in html
    assert connection.secret_hint in pages[0]
