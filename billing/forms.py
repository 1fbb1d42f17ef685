from decimal import Decimal

from django import forms

from billing.models import LedgerEntry

CREDITS = dict(max_digits=14, decimal_places=3)


class BillingSettingsForm(forms.Form):
    credits_per_second = forms.DecimalField(
        label="Rate (credits per second of active code)",
        min_value=Decimal("0.001"),
        max_value=Decimal("1000"),
        **CREDITS,
        help_text="Charged per started second of code running, uploading or downloading; "
        "idle time is free. Applies to sessions charged from now on. Changing it needs the "
        "“grant credits” permission, as a price does.",
    )
    monthly_budget = forms.DecimalField(
        label="Monthly budget (credits)",
        required=False,
        min_value=Decimal("0.001"),
        **CREDITS,
        help_text="Empty for none. At 80 % admins are alerted once a month; at 100 % code "
        "stops running until the month ends or the budget is raised.",
        max_value=Decimal("999999999"),
    )

    def __init__(self, *args, rate_locked: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Disabled: Django keeps the stored rate whatever a forged POST says.
        self.fields["credits_per_second"].disabled = rate_locked


class AgentBudgetForm(forms.Form):
    monthly_budget = forms.DecimalField(
        label="Monthly budget (credits)",
        required=False,
        min_value=Decimal("0.001"),
        max_value=Decimal("999999999"),
        **CREDITS,
        help_text="Empty for none.",
    )


GRANT_KINDS = [
    (kind.value, kind.label) for kind in LedgerEntry.Kind if kind != LedgerEntry.Kind.USAGE
]


class GrantForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=GRANT_KINDS, initial=LedgerEntry.Kind.GRANT)
    amount = forms.DecimalField(
        label="Credits",
        **CREDITS,
        help_text="Positive; only the operator console takes credits away (a negative adjustment).",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "Why, for the people who read the ledger"}),
    )
