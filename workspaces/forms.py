from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from workspaces.models import Role, User, normalize_email


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


class InvitationForm(forms.Form):
    # 254, not Django's 320: the most an address can be, and what the column holds.
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class InvitationSignupForm(forms.Form):
    """Name and password of an invited person who has no account yet; the email is the
    invitation's, so nobody can open an account for an address they were not sent to."""

    full_name = forms.CharField(
        max_length=150, label="Your name", widget=forms.TextInput(attrs={"autofocus": True})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=" ".join(password_validation.password_validators_help_texts()),
    )
    password2 = forms.CharField(
        label="Password confirmation",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict:
        data = super().clean()
        password, confirmation = data.get("password1"), data.get("password2")
        if password and confirmation and password != confirmation:
            self.add_error("password2", "The two passwords do not match.")
        elif password:
            # Judged like the account it makes: similar to the email or name is refused.
            person = User(email=self.email, full_name=data.get("full_name", ""))
            try:
                password_validation.validate_password(password, person)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
