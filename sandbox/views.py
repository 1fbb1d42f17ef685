from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sandbox import services
from sandbox.forms import NetworkPolicyForm
from workspaces.access import admin_only
from workspaces.forms import WorkspaceForm


@require_POST
@admin_only
def network_policy(request: HttpRequest) -> HttpResponse:
    """Saves the workspace's network policy (the form is on the settings page)."""
    form = NetworkPolicyForm(request.POST)
    if form.is_valid():
        try:
            services.sandbox_network_policy_set(
                workspace=request.workspace,
                mode=form.cleaned_data["mode"],
                domains=form.cleaned_data["domains"],
                presets=form.presets,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "The network policy is saved; new sessions use it.")
            url = reverse("workspace_settings", kwargs={"ws": request.workspace.slug})
            return redirect(f"{url}#network")
    context = {
        "form": WorkspaceForm(initial={"name": request.workspace.name}),
        "network_form": form,
    }
    return render(request, "workspaces/settings.html", context, status=400)
