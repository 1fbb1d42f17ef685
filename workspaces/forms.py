from django import forms
from django.contrib.auth.forms import AuthenticationForm

from workspaces.models import Role, normalize_email


class EmailLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        # Emails are matched in any case; only the password is case-sensitive.
        "invalid_login": "That email and password do not match. The password is case-sensitive.",
    }
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def clean_username(self) -> str:
        return normalize_email(self.cleaned_data["username"])


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autofocus": True}))


class MemberAddForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=150, required=False, label="Name (optional)")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
