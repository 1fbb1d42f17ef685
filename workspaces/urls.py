from django.contrib.auth import views as auth_views
from django.urls import path

from workspaces.forms import EmailLoginForm
from workspaces.views import account, invitations, members

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailLoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", account.PasswordChange.as_view(), name="password_change"),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("account/reset/", account.PasswordReset.as_view(), name="password_reset"),
    path(
        "account/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "account/reset/<uidb64>/<token>/",
        account.PasswordResetConfirm.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "account/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("w/<slug:ws>/members/", members.member_list, name="member_list"),
    path("w/<slug:ws>/members/<int:pk>/role/", members.member_role, name="member_role"),
    path("w/<slug:ws>/members/<int:pk>/remove/", members.member_remove, name="member_remove"),
    path(
        "w/<slug:ws>/invitations/<int:pk>/revoke/",
        invitations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invite/<slug:token>/", invitations.invitation_accept, name="invitation_accept"),
]
