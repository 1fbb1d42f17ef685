"""The operator's console (Django admin at /operator/)."""

from django.core.files.base import ContentFile
from django.core.files.storage import storages

from connections.models import Connection
from connections.services import connection_create
from drive.models import DriveFile
from drive.services import drive_file_upload
from workspaces.models import Membership, User, Workspace


def test_the_operator_deletes_a_workspace_with_its_drive_and_connections(
    client, team, other_team, django_capture_on_commit_callbacks
):
    operator = User.objects.create_superuser("ops@example.com", "pw-operator-123")
    stored = drive_file_upload(
        workspace=team.workspace, path="/a.csv", content=ContentFile(b"a,b\n")
    )
    kept = drive_file_upload(
        workspace=other_team.workspace, path="/b.csv", content=ContentFile(b"c,d\n")
    )
    connection_create(workspace=team.workspace, kind="openai", name="O", secret="sk-abc-12345")
    client.force_login(operator)
    url = f"/operator/workspaces/workspace/{team.workspace.pk}/delete/"
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk=team.workspace.pk).exists()
    assert not Connection.objects.exists()
    assert not Membership.objects.filter(workspace_id=team.workspace.pk).exists()
    assert list(DriveFile.objects.all()) == [kept]
    assert not storages["drive"].exists(stored.blob_name)
    assert storages["drive"].exists(kept.blob_name)


def test_the_operator_gives_the_grant_credits_permission_on_the_person(client, team):
    operator = User.objects.create_superuser("ops@example.com", "pw-operator-123")
    client.force_login(operator)
    url = f"/operator/workspaces/user/{team.admin.pk}/change/"
    form = client.get(url).context["adminform"].form
    choices = form.fields["user_permissions"].queryset
    grant = choices.get(codename="grant_credits", content_type__app_label="billing")
    # Only the product's own permissions are offered, not Django's per-model ones.
    assert not choices.filter(codename__startswith="add_").exists()

    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "user_permissions", "groups")
    }
    data["last_login_0"] = data["last_login_1"] = ""
    data.pop("last_login", None)
    joined = data.pop("date_joined")
    data["date_joined_0"], data["date_joined_1"] = f"{joined:%Y-%m-%d}", f"{joined:%H:%M:%S}"
    data["user_permissions"] = [grant.pk]
    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(pk=team.admin.pk).has_perm("billing.grant_credits")
