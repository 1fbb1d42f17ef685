from django import forms

from connections.models import Kind

# Kinds each optional field applies to; connections.js hides the field for the others.
PROVIDER_KINDS = f"{Kind.OPENAI} {Kind.ANTHROPIC}"


class ConnectionForm(forms.Form):
    kind = forms.ChoiceField(
        choices=Kind.choices,
        initial=Kind.OPENAI,
        widget=forms.Select(attrs={"data-connection-kind": ""}),
    )
    name = forms.CharField(
        max_length=100,
        help_text="Shown to admins and when choosing a model for an agent.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. OpenAI production"}),
    )
    # render_value=False: a key typed once is never sent back to the browser, not even
    # when the form comes back with errors.
    secret = forms.CharField(
        label="Key",
        required=False,
        strip=True,
        help_text="Shown only masked after saving. Servers of your own (such as Ollama) "
        "may need none when a base URL is set.",
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
    )
    base_url = forms.CharField(
        label="Base URL (optional)",
        max_length=500,
        required=False,
        help_text="For OpenAI-compatible servers (vLLM, Ollama, llama.cpp), e.g. "
        "http://localhost:11434/v1. Empty means the provider's own API.",
        widget=forms.URLInput(attrs={"data-kinds": PROVIDER_KINDS, "placeholder": "https://"}),
    )
    default_model = forms.CharField(
        label="Default model (optional)",
        max_length=200,
        required=False,
        help_text="The model agents use unless they choose another, e.g. gpt-4o-mini.",
        widget=forms.TextInput(attrs={"data-kinds": PROVIDER_KINDS}),
    )


class ConnectionEditForm(ConnectionForm):
    """The add form without the kind, whose key is optional: empty keeps the stored one."""

    def __init__(self, *args, connection, **kwargs) -> None:
        initial = {
            "name": connection.name,
            "base_url": connection.base_url,
            "default_model": connection.default_model,
        }
        super().__init__(*args, initial=initial, **kwargs)
        del self.fields["kind"]
        key = self.fields["secret"]
        if connection.is_pixelml:
            del self.fields["secret"], self.fields["base_url"], self.fields["default_model"]
            return
        key.label = "New key (optional)"
        key.help_text = f"Leave empty to keep the current key ({connection.secret_hint or 'none'})."
