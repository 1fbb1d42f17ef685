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


def attempt_via_proxy(email: str, password: str, forwarded_for: str):
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post(reverse("login"), {"username": email, "password": password})


def test_behind_a_proxy_a_forged_forwarded_address_does_not_reset_the_count(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TURNBOX_TRUSTED_PROXIES = 1
    # The proxy appends the address it saw (203.0.113.7); the client forged the rest.
    for forged in ("1.1.1.1", "2.2.2.2"):
        attempt_via_proxy(team.member.email, "wrong", f"{forged}, 203.0.113.7")
    response = attempt_via_proxy(team.member.email, "wrong", "3.3.3.3, 203.0.113.7")
    assert response.status_code == 429


def test_behind_a_proxy_clients_at_other_addresses_are_not_locked_out(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TURNBOX_TRUSTED_PROXIES = 1
    for _ in range(3):
        attempt_via_proxy(team.member.email, "wrong", "203.0.113.7")
    assert attempt_via_proxy(team.member.email, PASSWORD, "198.51.100.9").status_code == 302


def test_one_address_trying_many_emails_is_held_back(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TURNBOX_LOGIN_ADDRESS_FAILURE_LIMIT = 5
    for number in range(5):
        attempt(f"nobody{number}@example.com", "Summer2026!")
    # Every email had fewer failures than the pair limit; the address had five.
    response = attempt(team.admin.email, PASSWORD)
    assert response.status_code == 429
    assert "from your network, for several accounts" in response.content.decode()
    assert attempt(team.admin.email, PASSWORD, address="198.51.100.9").status_code == 302


def test_one_email_tried_from_many_addresses_is_held_back(team, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TURNBOX_LOGIN_EMAIL_FAILURE_LIMIT = 5
    for number in range(5):
        attempt(team.member.email, "wrong", address=f"198.51.100.{number + 1}")
    response = attempt(team.member.email, PASSWORD, address="192.0.2.50")
    assert response.status_code == 429
    assert "from several networks" in response.content.decode()
    assert attempt(team.admin.email, PASSWORD, address="192.0.2.50").status_code == 302


def test_the_wider_limits_forget_failures_after_the_cool_off(team, settings):
    from axes.models import AccessAttempt
    from django.utils import timezone

    settings.TURNBOX_LOGIN_ADDRESS_FAILURE_LIMIT = 2
    for number in range(2):
        attempt(f"nobody{number}@example.com", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME * 2)
    assert attempt(team.admin.email, PASSWORD).status_code == 302
