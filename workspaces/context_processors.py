from django.http import HttpRequest

from workspaces.selectors import memberships_of_user


def workspace_nav(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    if membership is None or not request.user.is_authenticated:
        return {}
    return {
        "current_workspace": membership.workspace,
        "current_membership": membership,
        "user_memberships": memberships_of_user(user=request.user),
    }
