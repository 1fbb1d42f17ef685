"""Invitations: the admin revokes them on the Members page; the invited person opens
the link, which works without logging in, and joins with an account of that email."""

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from workspaces import selectors, services
from workspaces.access import admin_only
from workspaces.forms import InvitationSignupForm
from workspaces.models import Invitation, Membership, normalize_email

# The invitation proved the email; a password the person just chose proves the rest.
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@admin_only
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = selectors.invitation_get_pending(workspace=request.workspace, pk=pk)
    services.invitation_revoke(invitation=invitation)
    messages.success(request, f"The invitation for {invitation.email} was revoked.")
    return redirect("member_list", ws=request.workspace.slug)


@never_cache  # The address holds the token: keep it out of shared caches.
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_open_by_token(token=token)
    if invitation is None:
        return _not_valid(request)
    if request.user.is_authenticated:
        return _accept_signed_in(request, invitation, token)
    if selectors.account_exists(email=invitation.email):
        return _page(request, invitation, "log_in")
    return _accept_with_new_account(request, invitation, token)


def _accept_signed_in(request: HttpRequest, invitation: Invitation, token: str) -> HttpResponse:
    if normalize_email(request.user.email) != invitation.email:
        return _page(request, invitation, "other_account")
    if request.method != "POST":
        return _page(request, invitation, "join")
    try:
        membership = services.invitation_accept(token=token, user=request.user)
    except services.InvitationInvalidError:
        return _not_valid(request)
    return _joined(request, membership)


def _accept_with_new_account(
    request: HttpRequest, invitation: Invitation, token: str
) -> HttpResponse:
    form = InvitationSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.invitation_accept_new_account(
                token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except services.InvitationInvalidError:
            return _not_valid(request)
        except ValidationError as error:
            # E.g. the email got an account a moment ago; the form has no email field.
            form.add_error(None, error.messages)
        else:
            login(request, membership.user, backend=LOGIN_BACKEND)
            return _joined(request, membership)
    status = 400 if form.errors else 200
    return _page(request, invitation, "sign_up", form=form, status=status)


def _page(
    request: HttpRequest, invitation: Invitation, state: str, form=None, status: int = 200
) -> HttpResponse:
    context = {"invitation": invitation, "state": state, "form": form}
    return render(request, "workspaces/invitation.html", context, status=status)


def _not_valid(request: HttpRequest) -> HttpResponse:
    # One page for unknown, expired, revoked and used links: they are all just dead.
    return render(request, "workspaces/invitation_invalid.html", status=404)


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    workspace = membership.workspace
    messages.success(
        request, f"Welcome to {workspace.name}: you are {membership.get_role_display()}."
    )
    return redirect("dashboard", ws=workspace.slug)
