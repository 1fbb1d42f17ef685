"""The operator console's view of credits: keys issued with their account and starting
credits, accounts (listed from their key's issue) and their ledger, read-only, and a
grant form. Entries are never changed or deleted, here or anywhere."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing import selectors, services
from billing.forms import GrantForm
from billing.models import CreditAccount, LedgerEntry
from connections.admin import PixelMLKeyAdmin
from connections.models import PixelMLKey

CONSOLE_GRANT_PERMISSION = "billing.add_ledgerentry"


class OperatorGrantForm(GrantForm):
    key = forms.ModelChoiceField(
        label="PixelML key (account)",
        queryset=PixelMLKey.objects.order_by("name"),
        help_text="Every issued key has its account.",
    )
    field_order = ["key", "kind", "amount", "reason"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Balances move only through billing.services; nothing is edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PixelMLKeyIssueForm(forms.ModelForm):
    credits = forms.DecimalField(
        label="Starting credits",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=3,
        help_text="Granted to the key's account as it is issued, so it runs code at once.",
    )

    class Meta:
        model = PixelMLKey
        fields = ["name"]


# The connections console issues keys; here they are issued with their credit account.
admin.site.unregister(PixelMLKey)


@admin.register(PixelMLKey)
class FundedPixelMLKeyAdmin(PixelMLKeyAdmin):
    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PixelMLKeyIssueForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: PixelMLKey | None = None) -> list[str]:
        return ["name", "credits"] if obj is None else super().get_fields(request, obj)

    def issue(self, request: HttpRequest, form) -> tuple[PixelMLKey, str]:
        return services.pixelml_key_issue_funded(
            name=form.cleaned_data["name"],
            credits=form.cleaned_data.get("credits"),
            created_by=request.user,
        )


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ["key", "balance", "matches_ledger", "created_at", "grant_link"]
    search_fields = ["key__name", "key__prefix"]
    list_select_related = ["key"]
    readonly_fields = ["key", "balance", "created_at"]
    actions = ["grant_to_selected"]

    @admin.display(description="balance = sum of entries", boolean=True)
    def matches_ledger(self, obj: CreditAccount) -> bool:
        return selectors.account_check(account=obj)

    @admin.display(description="")
    def grant_link(self, obj: CreditAccount) -> str:
        url = reverse("admin:billing_creditaccount_grant") + f"?key={obj.key_id}"
        return format_html('<a href="{}">Grant credits</a>', url)

    @admin.action(description="Grant credits to the selected account")
    def grant_to_selected(self, request: HttpRequest, queryset: QuerySet[CreditAccount]):
        first = queryset.first()
        return redirect(reverse("admin:billing_creditaccount_grant") + f"?key={first.key_id}")

    def get_urls(self):
        grant = self.admin_site.admin_view(self.grant_view)
        return [path("grant/", grant, name="billing_creditaccount_grant"), *super().get_urls()]

    def grant_view(self, request: HttpRequest) -> HttpResponse:
        """Grants, purchases, refunds and adjustments, each with a reason, attributed to
        the operator who made it."""
        if not request.user.has_perm(CONSOLE_GRANT_PERMISSION):
            raise PermissionDenied
        form = OperatorGrantForm(request.POST or None, initial={"key": request.GET.get("key")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                entry = services.account_grant(granted_by=request.user, **data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.message_user(
                    request, f"Added {entry} to the account of {data['key']}.", messages.SUCCESS
                )
                return redirect("admin:billing_creditaccount_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "title": "Grant credits"}
        return TemplateResponse(request, "billing/settings_operator_grant.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """Read-only: the ledger is append-only; corrections are new adjustment entries."""

    list_display = ["created_at", "kind", "amount", "account", "workspace", "who", "why"]
    list_filter = ["kind"]
    search_fields = ["idempotency_key", "reason", "label", "workspace__name"]
    list_select_related = ["account__key", "workspace", "created_by", "user"]
    date_hierarchy = "created_at"

    @admin.display(description="who")
    def who(self, obj: LedgerEntry):
        return obj.created_by or obj.user

    @admin.display(description="why / what")
    def why(self, obj: LedgerEntry) -> str:
        return obj.reason if obj.kind != LedgerEntry.Kind.USAGE else obj.label
