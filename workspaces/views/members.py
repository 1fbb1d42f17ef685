from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from workspaces import selectors, services
from workspaces.access import admin_only
from workspaces.forms import InvitationForm, RoleForm
from workspaces.mail import email_delivers
from workspaces.models import INVITATION_VALID_DAYS, Role


@never_cache  # The page may carry an invitation link: no cache may keep a copy.
@admin_only
def member_list(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    invited = None
    if request.method == "POST" and form.is_valid():
        try:
            invitation, link = services.invitation_send(
                workspace=request.workspace,
                created_by=request.user,
                link_for=lambda token: request.build_absolute_uri(
                    reverse("invitation_accept", args=[token])
                ),
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            # A link (no email delivered) is shown in this response only, never through
            # messages: those are stored in the session and may outlive this page.
            invited = {"email": invitation.email, "link": link}
            form = InvitationForm()
    return _members_page(request, form, invited)


def _members_page(request: HttpRequest, form: InvitationForm, invited: dict | None) -> HttpResponse:
    return render(
        request,
        "workspaces/members.html",
        {
            "form": form,
            "invited": invited,
            "valid_days": INVITATION_VALID_DAYS,
            "email_delivers": email_delivers(),
            "members": selectors.members_of_workspace(workspace=request.workspace),
            "invitations": selectors.invitations_pending(workspace=request.workspace),
            "roles": Role.choices,
        },
        status=400 if form.errors else 200,
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
