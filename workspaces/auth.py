from django.http import HttpRequest

from workspaces.models import normalize_email


def login_attempt_email(request: HttpRequest, credentials: dict | None) -> str:
    """The email a login attempt was for, normalised as accounts are, so that
    "ADMIN@x" and "admin@x" count against the same lockout."""
    raw = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalize_email(raw)
