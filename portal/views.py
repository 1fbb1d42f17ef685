"""The portal's pages: where a person lands, the workspace overview and its settings,
which hold the sandbox's network policy beside the workspace's name; and the sealed
frame in which pages show HTML made by a sandbox."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from billing.reports import usage_snapshot
from portal.dashboard import dashboard_cards
from sandbox.forms import NetworkPolicyForm
from sandbox.models import SandboxPolicy
from workspaces import services
from workspaces.access import LAST_WORKSPACE_SESSION_KEY, admin_only, workspace_view
from workspaces.forms import WorkspaceForm
from workspaces.selectors import memberships_of_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = memberships_of_user(user=request.user)
    last = request.session.get(LAST_WORKSPACE_SESSION_KEY)
    chosen = next((m for m in memberships if m.workspace.slug == last), None) or memberships.first()
    if chosen is None:
        return redirect("workspace_new")
    return redirect("dashboard", ws=chosen.workspace.slug)


@login_required
def workspace_new(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            name = form.cleaned_data["name"]
            workspace = services.workspace_create(name=name, owner=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("dashboard", ws=workspace.slug)
    return render(
        request,
        "portal/workspace_new.html",
        {"form": form, "user_memberships": memberships_of_user(user=request.user)},
    )


@workspace_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        "cards": dashboard_cards(membership=request.membership),
        "usage": usage_snapshot(workspace=request.workspace),
    }
    return render(request, "portal/dashboard.html", context)


@admin_only
def workspace_settings(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None, initial={"name": request.workspace.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.workspace_rename(workspace=request.workspace, name=form.cleaned_data["name"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"The workspace is now called “{request.workspace.name}”.")
            return redirect("workspace_settings", ws=request.workspace.slug)
    policy = SandboxPolicy.objects.filter(workspace=request.workspace).first()
    context = {"form": form, "network_form": NetworkPolicyForm.for_policy(policy)}
    return render(request, "workspaces/settings.html", context, status=400 if form.errors else 200)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages name their icon; this answers browsers on pages that cannot (the operator
    console, plain error responses)."""
    return redirect(static("favicon.svg"), permanent=True)


# A sandbox's HTML output, shown in an iframe with an empty sandbox attribute. It is
# loaded from here, not from srcdoc, because a srcdoc frame inherits the page's strict
# policy and would lose its inline styles: this response has a policy of its own, which
# allows inline styles and data: images and nothing else, and the CSP sandbox gives it
# an opaque origin even when opened on its own.
HTML_FRAME_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)


@require_POST
@login_required
@never_cache
@xframe_options_sameorigin
def html_frame(request: HttpRequest) -> HttpResponse:
    """Shows back the HTML the page posted, sealed; CSRF-checked, so no other site can
    make this site show its markup."""
    response = HttpResponse(request.POST.get("html", ""), content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = HTML_FRAME_POLICY
    response["Referrer-Policy"] = "no-referrer"
    return response
