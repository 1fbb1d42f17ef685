from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from connections import selectors, services
from connections.forms import ConnectionEditForm, ConnectionForm
from workspaces.access import admin_only


@admin_only
def connection_list(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    return render(
        request,
        "connections/list.html",
        {
            "connections": selectors.connections_of_workspace(workspace=workspace),
            "pixelml_active": selectors.workspace_has_active_pixelml(workspace=workspace),
        },
    )


# Production error reports (admin emails) would otherwise carry the pasted key, from the
# POST data and from the local variables of every frame below the view.
@admin_only
@sensitive_post_parameters("secret")
@sensitive_variables()
def connection_add(request: HttpRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = services.connection_create(
                workspace=request.workspace, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Connection “{connection.name}” added.")
            return redirect("connections:list", ws=request.workspace.slug)
    return render(
        request,
        "connections/add.html",
        {"form": form, "pixelml": selectors.pixelml_connection(workspace=request.workspace)},
        status=400 if form.errors else 200,
    )


@admin_only
@sensitive_post_parameters("secret")
@sensitive_variables()
def connection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connection = selectors.connection_get(workspace=request.workspace, pk=pk)
    form = ConnectionEditForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_update(connection=connection, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Connection “{connection.name}” saved.")
            return redirect("connections:list", ws=request.workspace.slug)
    return render(
        request,
        "connections/edit.html",
        {"form": form, "connection": connection},
        status=400 if form.errors else 200,
    )


@admin_only
@require_POST
@sensitive_variables()
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    connection = selectors.connection_get(workspace=request.workspace, pk=pk)
    result = services.connection_check(connection=connection)
    if result.ok:
        say = messages.warning if result.warning else messages.success
        say(request, f"“{connection.name}” works. {result.message}")
    else:
        messages.error(request, f"“{connection.name}” failed the test. {result.message}")
    return redirect("connections:list", ws=request.workspace.slug)


@admin_only
@require_POST
def connection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    connection = selectors.connection_get(workspace=request.workspace, pk=pk)
    try:
        services.connection_delete(connection=connection)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Connection “{connection.name}” deleted.")
    return redirect("connections:list", ws=request.workspace.slug)
