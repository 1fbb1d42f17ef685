from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from workspaces import selectors, services
from workspaces.access import admin_only
from workspaces.forms import MemberAddForm, RoleForm
from workspaces.models import Role


@admin_only
def member_list(request: HttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership, password = services.membership_add(
                workspace=request.workspace, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            _announce_added(request, membership, password)
            return redirect("member_list", ws=request.workspace.slug)
    return render(
        request,
        "workspaces/members.html",
        {
            "form": form,
            "members": selectors.members_of_workspace(workspace=request.workspace),
            "roles": Role.choices,
        },
        status=400 if form.errors else 200,
    )


def _announce_added(request: HttpRequest, membership, password: str | None) -> None:
    email = membership.user.email
    if password is None:
        messages.success(request, f"{email} now has access as {membership.get_role_display()}.")
        return
    # Shown once: the admin hands it over; the person changes it under "Change password".
    messages.warning(
        request,
        f"Account created for {email}. One-time password: {password} "
        "(shown only now; they choose their own password when they first log in).",
        extra_tags="secret",
    )


@admin_only
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = selectors.membership_get(workspace=request.workspace, pk=pk)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose one of the roles.")
        services.membership_change_role(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display()}."
        )
    return redirect("member_list", ws=request.workspace.slug)


@admin_only
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = selectors.membership_get(workspace=request.workspace, pk=pk)
    try:
        services.membership_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("member_list", ws=request.workspace.slug)
    messages.success(request, f"{membership.user.email} was removed from the workspace.")
    if membership.user_id == request.user.id:
        return redirect("home")
    return redirect("member_list", ws=request.workspace.slug)
