from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import reverse_lazy

from workspaces import services


class PasswordChange(auth_views.PasswordChangeView):
    success_url = reverse_lazy("password_change_done")

    def get_context_data(self, **kwargs) -> dict:
        forced = self.request.user.must_change_password
        return {**super().get_context_data(**kwargs), "forced": forced}

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        services.user_password_changed(user=form.user)
        return response
