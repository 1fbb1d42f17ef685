from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def attempt(email: str, password: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).post(
        reverse("login"), {"username": email, "password": password}
    )


def test_repeated_wrong_passwords_lock_that_email_from_that_address(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    assert attempt(team.member.email, "wrong").status_code == 200
    assert attempt(team.member.email, "wrong").status_code == 200
    assert attempt(team.member.email, "wrong").status_code == 429
    # Even the right password waits now, and the case of the email does not help.
    response = attempt(team.member.email.upper(), PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()


def test_the_lockout_does_not_reach_other_addresses_or_people(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        attempt(team.member.email, "wrong")
    assert attempt(team.member.email, PASSWORD, address="198.51.100.9").status_code == 302
    assert attempt(team.admin.email, PASSWORD).status_code == 302


def test_a_successful_login_clears_earlier_failures(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        attempt(team.member.email, "wrong")
    assert attempt(team.member.email, PASSWORD).status_code == 302
    for _ in range(2):
        attempt(team.member.email, "wrong")
    assert attempt(team.member.email, PASSWORD).status_code == 302
