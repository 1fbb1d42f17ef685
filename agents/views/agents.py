"""Agent pages: the list and an agent's page with its deploy checklist for every member
but finance (as Drive); creating, the tabbed editor, the model check and deleting for
admins. Each editor tab is a form of its own, posting to its own URL."""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents import selectors
from agents.forms import (
    AgentBasicsForm,
    AgentCodeExecutionForm,
    AgentCreateForm,
    AgentInstructionsForm,
    AgentModelForm,
)
from agents.models import Agent
from agents.services import agents as services
from connections.selectors import workspace_has_active_pixelml
from skills.selectors import skill_choices_for_agent
from workspaces.access import admin_only, workspace_view
from workspaces.models import Role

agent_view = workspace_view(roles=[Role.ADMIN, Role.MEMBER])


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    # None: the tab only shows things, and takes no POST.
    form_class: type[forms.Form] | None
    template: str


TABS = (
    Tab("basics", "Basics", AgentBasicsForm, "agents/tabs/form.html"),
    Tab("model", "Model", AgentModelForm, "agents/tabs/form.html"),
    Tab("instructions", "Instructions", AgentInstructionsForm, "agents/tabs/form.html"),
    Tab("skills", "Skills & Capabilities", None, "agents/tabs/skills.html"),
    Tab(
        "code-execution",
        "Code Execution",
        AgentCodeExecutionForm,
        "agents/tabs/code_execution.html",
    ),
)
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}


def _is_admin(request: HttpRequest) -> bool:
    return request.membership.role == Role.ADMIN


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's errors go to the form's fields; those of fields the form lacks above it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@agent_view
@require_GET
def agent_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "agents/agent_list.html",
        {
            "agents": selectors.agents_of_workspace(workspace=request.workspace),
            "is_admin": _is_admin(request),
        },
    )


@admin_only
def agent_create(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = AgentCreateForm(data, workspace=request.workspace)
    if data is not None and form.is_valid():
        try:
            agent = services.agent_create(
                workspace=request.workspace, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Agent “{agent.name}” created.")
            return redirect("agents:detail", ws=request.workspace.slug, pk=agent.pk)
    return render(
        request,
        "agents/agent_form.html",
        {
            "form": form,
            "has_llm_connections": form.fields["connection"].queryset.exists(),
        },
        status=400 if form.errors else 200,
    )


@agent_view
@require_GET
def agent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    agent = selectors.agent_get(workspace=request.workspace, pk=pk)
    checklist = selectors.agent_checklist(agent=agent)
    limits, maximums = selectors.agent_limits(agent=agent)
    return render(
        request,
        "agents/agent_detail.html",
        {
            "agent": agent,
            "checklist": checklist,
            "model_check": selectors.agent_model_check(agent=agent),
            "done_count": sum(item.done for item in checklist),
            "limits": limits,
            "maximums": maximums,
            "playground_url": selectors.agent_playground_url(agent=agent),
            "is_admin": _is_admin(request),
        },
    )


@admin_only
@require_GET
def agent_edit(request: HttpRequest, pk: int) -> HttpResponse:
    agent = selectors.agent_get(workspace=request.workspace, pk=pk)
    return redirect(selectors.agent_tab_url(agent=agent, tab=TABS[0].slug))


@admin_only
def agent_edit_tab(request: HttpRequest, pk: int, tab: str) -> HttpResponse:
    agent = selectors.agent_get(workspace=request.workspace, pk=pk)
    current = TABS_BY_SLUG.get(tab)
    if current is None:
        raise Http404("No such tab.")
    if current.form_class is None:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return _edit_page(request, agent, current, form=None)
    data = request.POST if request.method == "POST" else None
    form = current.form_class(data, agent=agent, workspace=request.workspace)
    if data is not None and form.is_valid():
        try:
            services.agent_update(agent=agent, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{current.label} of “{agent.name}” saved.")
            return redirect(selectors.agent_tab_url(agent=agent, tab=current.slug))
    return _edit_page(request, agent, current, form=form)


def _edit_page(
    request: HttpRequest, agent: Agent, current: Tab, *, form: forms.Form | None
) -> HttpResponse:
    tabs = [
        {"slug": t.slug, "label": t.label, "url": selectors.agent_tab_url(agent=agent, tab=t.slug)}
        for t in TABS
    ]
    return render(
        request,
        "agents/agent_edit.html",
        {
            "agent": agent,
            "tabs": tabs,
            "tab": next(t for t in tabs if t["slug"] == current.slug),
            "tab_template": current.template,
            "form": form,
            # The Skills & Capabilities tab.
            "skill_count": selectors.agent_skill_count(agent=agent),
            "skill_choices": skill_choices_for_agent(agent=agent),
            "pixelml_active": workspace_has_active_pixelml(workspace=request.workspace),
            "code_execution_url": selectors.agent_tab_url(agent=agent, tab="code-execution"),
        },
        status=400 if form is not None and form.errors else 200,
    )


@admin_only
@require_POST
def agent_check_model(request: HttpRequest, pk: int) -> HttpResponse:
    agent = selectors.agent_get(workspace=request.workspace, pk=pk)
    ok, message = services.agent_check_model(agent=agent)
    if ok:
        messages.success(request, f"Checked “{agent.name}”. {message}")
    else:
        messages.error(request, f"Checked “{agent.name}”: the model is not reachable. {message}")
    return redirect("agents:detail", ws=request.workspace.slug, pk=agent.pk)


@admin_only
@require_POST
def agent_delete(request: HttpRequest, pk: int) -> HttpResponse:
    agent = selectors.agent_get(workspace=request.workspace, pk=pk)
    services.agent_delete(agent=agent)
    messages.success(request, f"Agent “{agent.name}” deleted.")
    return redirect("agents:list", ws=request.workspace.slug)
