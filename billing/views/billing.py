"""The workspace's Billing page: balance, rate, budgets and the latest ledger entries.
Finance reads it; admins change the rate and budgets; admins whom the operator gave the
``billing.grant_credits`` permission also grant credits."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.forms import AgentBudgetForm, BillingSettingsForm, GrantForm
from workspaces.access import admin_only, workspace_view
from workspaces.models import Role

GRANT_PERMISSION = "billing.grant_credits"
TAKE_AWAY = (
    "Here credits are only added. Taking credits away (a negative adjustment) is the "
    "platform operator's, in the operator console: the key's account may pay for other "
    "workspaces too."
)
NO_GRANT = (
    "Granting credits needs the “grant credits” permission, which the platform operator "
    "gives in the operator console."
)


@workspace_view(roles=[Role.ADMIN, Role.FINANCE])
def billing_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _page(request: HttpRequest, *, status: int = 200, **forms) -> HttpResponse:
    workspace = request.workspace
    row = selectors.billing_settings_of(workspace=workspace)
    initial = {"credits_per_second": row.credits_per_second, "monthly_budget": row.monthly_budget}
    context = {
        "balance": selectors.workspace_balance(workspace=workspace),
        "rate": row.credits_per_second,
        "budget": selectors.workspace_budget_line(workspace=workspace),
        "agent_lines": selectors.agent_budget_lines(workspace=workspace),
        "entries": selectors.ledger_latest(workspace=workspace),
        "can_write": request.membership.role == Role.ADMIN,
        "can_grant": _may_grant(request),
        "settings_form": forms.get("settings_form")
        or BillingSettingsForm(initial=initial, rate_locked=not _may_grant(request)),
        "grant_form": forms.get("grant_form") or GrantForm(),
        "agent_errors": forms.get("agent_errors") or {},
    }
    return render(request, "billing/settings.html", context, status=status)


def _may_grant(request: HttpRequest) -> bool:
    return request.membership.role == Role.ADMIN and request.user.has_perm(GRANT_PERMISSION)


def _back(request: HttpRequest, anchor: str = "") -> HttpResponse:
    return redirect(reverse("billing:settings", kwargs={"ws": request.workspace.slug}) + anchor)


@require_POST
@admin_only
def rate_update(request: HttpRequest) -> HttpResponse:
    current = selectors.billing_settings_of(workspace=request.workspace)
    form = BillingSettingsForm(
        request.POST,
        initial={"credits_per_second": current.credits_per_second},
        rate_locked=not _may_grant(request),
    )
    if form.is_valid():
        try:
            services.billing_settings_update(workspace=request.workspace, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "The rate and budget are saved.")
            return _back(request)
    return _page(request, settings_form=form, status=400)


@require_POST
@admin_only
def agent_budget(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(request.workspace.agents, pk=pk)
    form = AgentBudgetForm(request.POST)
    if form.is_valid():
        try:
            services.agent_budget_set(
                agent_id=agent.pk, monthly_budget=form.cleaned_data["monthly_budget"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"The monthly budget of {agent.name} is saved.")
            return _back(request, "#agents")
    errors = {agent.pk: [e for errors in form.errors.values() for e in errors]}
    return _page(request, agent_errors=errors, status=400)


@require_POST
@admin_only
def grant(request: HttpRequest) -> HttpResponse:
    if not _may_grant(request):
        raise PermissionDenied(NO_GRANT)
    form = GrantForm(request.POST)
    if form.is_valid() and form.cleaned_data["amount"] <= 0:
        form.add_error("amount", TAKE_AWAY)
    if form.is_valid():
        try:
            entry = services.credit_grant(
                workspace=request.workspace, granted_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"{entry.get_kind_display()} of {entry.amount} credits added."
            )
            return _back(request, "#ledger")
    return _page(request, grant_form=form, status=400)
