from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from connections import services
from connections.models import Connection, PixelMLKey


@admin.register(PixelMLKey)
class PixelMLKeyAdmin(admin.ModelAdmin):
    """Operators issue keys here; the key is shown once, only its hash is kept."""

    list_display = ["name", "display_prefix", "status", "created_at", "created_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    readonly_fields = ["display_prefix", "status", "created_at", "created_by", "revoked_at"]

    def get_fields(self, request: HttpRequest, obj: PixelMLKey | None = None) -> list[str]:
        return ["name"] if obj is None else ["name", *self.readonly_fields]

    @admin.display(description="key")
    def display_prefix(self, obj: PixelMLKey) -> str:
        return obj.display_prefix

    @admin.display(description="status")
    def status(self, obj: PixelMLKey) -> str:
        return f"revoked {obj.revoked_at:%Y-%m-%d %H:%M}" if obj.is_revoked else "active"

    @method_decorator(sensitive_variables("plaintext"))
    def save_model(self, request: HttpRequest, obj: PixelMLKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued, plaintext = self.issue(request, form)
        # The admin goes on with ``obj`` (log entry, redirect): make it the issued row.
        for field in PixelMLKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued, field.attname))
        obj._state = issued._state
        messages.warning(
            request,
            f"PixelML key for {issued.name}: {plaintext} — copy it now and hand it to the "
            "workspace admin. It is not stored and will not be shown again.",
            extra_tags="issued-key",  # static/js/console.js gives it a Copy button
        )

    def issue(self, request: HttpRequest, form) -> tuple[PixelMLKey, str]:
        """The key and its plaintext (billing's console issues it with credits)."""
        return services.pixelml_key_issue(name=form.cleaned_data["name"], created_by=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: PixelMLKey | None = None) -> bool:
        # Keys name the account that pays: revoke them, keep the record.
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PixelMLKey]) -> None:
        keys = [key for key in queryset if not key.is_revoked]
        for key in keys:
            services.pixelml_key_revoke(key=key)
        self.message_user(
            request,
            f"Revoked {len(keys)} key(s); workspaces using them lost code execution.",
            messages.SUCCESS,
        )


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Read-only view for the operator; the encrypted secret is never part of it."""

    list_display = ["name", "workspace", "kind", "secret_hint", "base_url", "last_check_ok"]
    list_filter = ["kind", "last_check_ok"]
    search_fields = ["name", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace"]
    fields = [
        "workspace",
        "kind",
        "name",
        "secret_hint",
        "base_url",
        "default_model",
        "pixelml_key",
        "created_by",
        "created_at",
        "last_checked_at",
        "last_check_ok",
        "last_check_message",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return False
