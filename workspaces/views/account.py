"""A person's own account: changing the password, and resetting a forgotten one."""

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from workspaces import services
from workspaces.mail import email_delivers


class PasswordChange(auth_views.PasswordChangeView):
    success_url = reverse_lazy("password_change_done")

    def get_context_data(self, **kwargs) -> dict:
        forced = self.request.user.must_change_password
        return {**super().get_context_data(**kwargs), "forced": forced}

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        services.user_password_changed(user=form.user)
        return response


class PasswordReset(auth_views.PasswordResetView):
    """Sends a reset link to the address, when this Turnbox delivers email. Without
    email nothing could prove who owns the address, so the page sends people to the
    operator instead (who sets a password in the operator console)."""

    success_url = reverse_lazy("password_reset_done")

    def dispatch(self, request, *args, **kwargs) -> HttpResponse:
        if not email_delivers():
            return render(request, "registration/password_reset_unavailable.html")
        return super().dispatch(request, *args, **kwargs)


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        # A password the person chose themselves: nothing more to change.
        services.user_password_changed(user=form.user)
        return response
