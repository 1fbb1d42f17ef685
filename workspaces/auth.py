"""Who a login attempt is for and where it comes from, and the limits on wrong passwords
(django-axes with two wider limits of ours)."""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from workspaces.models import normalize_email


def login_attempt_email(request: HttpRequest, credentials: dict | None) -> str:
    """The email a login attempt was for, normalised as accounts are, so that
    "ADMIN@x" and "admin@x" count against the same lockout."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalize_email(raw)


def client_address(request: HttpRequest) -> str:
    """The address the login lockout counts against.

    Each trusted proxy appends the address it saw to X-Forwarded-For, so the entry that
    many places from the right is the one our outermost proxy saw. Entries further left
    are whatever the client wrote, and trusting them would let a guesser pose as a new
    address on every try, or lock everyone out together."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TURNBOX_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-proxies] if len(hops) >= proxies else remote


class LoginThrottle(AxesDatabaseHandler):
    """django-axes' lockout of one email from one address, plus two wider limits over the
    same cool-off window: one address trying many emails (a guesser spraying one password
    across accounts), and one email tried from many addresses (a guesser with many
    addresses). They are higher than the pair's, so that an office behind one address, or
    a person on several networks, is not locked out by a few typos."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or wider_lockout(request, credentials) != ""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        # Axes decides the lockout page after recording the failure from the pair's count
        # alone; a wider limit reached must show the page too.
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if wider_lockout(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials


def wider_lockout(request: HttpRequest, credentials: dict | None) -> str:
    """Which wider limit the attempt is past: "address", "email" or ""."""
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - get_cool_off())
    counts = {
        "address": (recent.filter(ip_address=client_address(request)), "ADDRESS"),
        "email": (recent.filter(username=login_attempt_email(request, credentials)), "EMAIL"),
    }
    for reason, (attempts, name) in counts.items():
        failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        if failures >= getattr(settings, f"TURNBOX_LOGIN_{name}_FAILURE_LIMIT"):
            return reason
    return ""


def lockout_response(request: HttpRequest, response, credentials: dict | None) -> HttpResponse:
    """The lockout page, saying which limit was reached."""
    context = {"reason": wider_lockout(request, credentials) or "pair"}
    context["minutes"] = int(get_cool_off().total_seconds() // 60)
    return render(request, "registration/locked_out.html", context, status=429)
