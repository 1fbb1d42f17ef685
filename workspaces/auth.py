from django.conf import settings
from django.http import HttpRequest

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
