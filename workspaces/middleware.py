from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# Pages a person with a handed-over password may still open.
_ALLOWED = ("password_change", "password_change_done", "logout")


class PasswordChangeRequiredMiddleware:
    """A password the operator chose and handed over opens only the password page: until
    the person chooses their own, whoever saw it could act as them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.allowed = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            self.allowed = self.allowed or {reverse(name) for name in _ALLOWED}
            if request.path not in self.allowed:
                return redirect("password_change")
        return self.get_response(request)
