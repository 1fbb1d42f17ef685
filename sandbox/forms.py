from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from sandbox.models import SandboxPolicy
from sandbox.network import PRESETS, Mode, parse_rules

DOMAINS_HELP = (
    "One per line. pypi.org allows that name; *.example.org its subdomains (not "
    "example.org itself); a port, as in example.org:8443, allows only that port, "
    "otherwise 80 and 443. Private and internal addresses are never reachable, even "
    "through a listed name."
)


def _preset_field(name: str) -> str:
    return "preset_" + name.replace("-", "_")


class NetworkPolicyForm(forms.Form):
    """A workspace's network policy: what code in its sandboxes may reach."""

    mode = forms.ChoiceField(label="Network access", widget=forms.RadioSelect)
    domains = forms.CharField(
        label="Allowed domains",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text=DOMAINS_HELP,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        modes = [(c, label) for c, label in SandboxPolicy.Network.choices]
        if not settings.TURNBOX_EGRESS_ALLOW_OPEN:
            modes = [(c, label) for c, label in modes if c != Mode.OPEN]
        self.fields["mode"].choices = modes
        for name, preset in PRESETS.items():
            self.fields[_preset_field(name)] = forms.BooleanField(
                required=False, label=f"{preset.label}: {', '.join(preset.domains)}"
            )

    @classmethod
    def for_policy(cls, policy: SandboxPolicy | None) -> "NetworkPolicyForm":
        if policy is None:
            return cls(initial={"mode": Mode.NONE})
        initial = {"mode": policy.network_policy, "domains": "\n".join(policy.allowed_domains)}
        initial |= {_preset_field(name): True for name in policy.network_presets}
        return cls(initial=initial)

    def clean_domains(self) -> list[str]:
        lines = self.cleaned_data["domains"].splitlines()
        try:
            rules = parse_rules(lines)
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        return [str(rule) for rule in rules]

    @property
    def presets(self) -> list[str]:
        return [name for name in PRESETS if self.cleaned_data.get(_preset_field(name))]

    def clean(self) -> dict:
        data = super().clean()
        listed = data.get("domains", ["(invalid)"]) or self.presets
        if data.get("mode") == Mode.ALLOWLIST and not listed:
            self.add_error("domains", "List at least one domain, or tick a preset.")
        return data
