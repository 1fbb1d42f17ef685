"""Email through a real SMTP server (aiosmtpd): invitations and password resets go to the
address only; without email the pages say who can claim an address, and where it goes
is said at start-up."""

import re
import subprocess
import sys
from pathlib import Path

from django.urls import reverse

from tests.conftest import free_port
from workspaces import selectors
from workspaces.mail import delivery_statement
from workspaces.models import Invitation, User

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"http://testserver(/\S+/)")


def invite(client, email="newcomer@example.com", role="member"):
    return client.post(
        reverse("member_list", kwargs={"ws": "acme"}), {"email": email, "role": role}
    )


def link_in(message) -> str:
    return LINK.search(message.get_content()).group(1)


def test_with_email_the_invitation_goes_to_the_address_and_not_to_the_admin(
    client_for, team, smtp_server
):
    response = invite(client_for(team.admin))

    assert response.status_code == 200
    [message] = smtp_server.to("newcomer@example.com")
    assert message["Subject"] == "Join Acme on Turnbox"
    link = link_in(message)
    token = link.removeprefix("/invite/").strip("/")
    assert selectors.invitation_open_by_token(token=token).email == "newcomer@example.com"
    assert token not in response.text and "/invite/" not in response.text
    assert "sent by email" in response.text
    # Only the address's mailbox can now create the account.
    page = client_for(team.member).get(reverse("member_list", kwargs={"ws": "acme"}))
    assert token not in page.text


def test_the_emailed_link_creates_the_account_of_that_address(
    client, team, client_for, smtp_server
):
    invite(client_for(team.admin), role="finance")
    link = link_in(smtp_server.to("newcomer@example.com")[0])

    response = client.post(
        link,
        {"full_name": "Nina", "password1": "a-long-passphrase", "password2": "a-long-passphrase"},
    )

    assert response.status_code == 302
    user = User.objects.get(email="newcomer@example.com")
    assert user.memberships.get().workspace == team.workspace


def test_when_the_smtp_server_refuses_nothing_changes(client_for, team, settings, db):
    settings.TURNBOX_EMAIL_DELIVERS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens

    response = invite(client_for(team.admin))

    assert response.status_code == 400
    assert "could not be sent" in response.text
    assert not Invitation.objects.exists()


def test_without_email_the_page_says_who_can_claim_the_address(client_for, team, settings):
    settings.TURNBOX_EMAIL_DELIVERS = False
    response = invite(client_for(team.admin))
    text = re.sub(r"\s+", " ", response.content.decode())
    assert "This Turnbox sends no email" in text
    assert "Whoever opens the link first joins as newcomer@example.com" in text
    assert "creates the account with a password of their own choosing" in text
    assert "you, or anyone the link reaches" in text


def test_with_email_a_password_reset_link_goes_to_the_address(client, team, smtp_server):
    response = client.post(reverse("password_reset"), {"email": team.member.email})

    assert response.status_code == 302
    [message] = smtp_server.to(team.member.email)
    link = link_in(message)
    assert link not in client.get(response.url).content.decode()
    form = client.get(link, follow=True)
    new = "another-long-passphrase"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    team.member.refresh_from_db()
    assert team.member.check_password(new)


def test_a_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, db, smtp_server):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert smtp_server.messages == []


def test_without_email_a_reset_is_sent_to_the_operator(client, team, settings, mailoutbox):
    settings.TURNBOX_EMAIL_DELIVERS = False
    page = client.get(reverse("password_reset"))
    assert "This Turnbox sends no email" in page.content.decode()
    assert "operator" in page.content.decode()
    response = client.post(reverse("password_reset"), {"email": team.member.email})
    assert response.status_code == 200
    assert mailoutbox == []


def test_where_email_goes_is_said_at_start_up(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "TURNBOX_DATA_DIR": str(tmp_path),
        "TURNBOX_SANDBOX_POOL_SIZE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    command = [sys.executable, "-c", "import config.asgi"]
    embedded = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert "Email: not configured (set EMAIL_URL), nothing is delivered" in embedded.stderr
    assert str(tmp_path / "mail") in embedded.stderr

    env["EMAIL_URL"] = "smtp+tls://mailer:secret@mail.example.com:587"
    configured = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert "Email: sent through mail.example.com:587" in configured.stderr
    assert "secret" not in configured.stderr


def test_the_statement_follows_the_settings(settings):
    settings.TURNBOX_EMAIL_DELIVERS = False
    assert "nothing is delivered" in delivery_statement()
