from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Permission

from workspaces import services
from workspaces.models import Invitation, Membership, User, Workspace


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "user_permissions")}),
        # Tick after setting a password for someone: they must choose their own next.
        ("Password", {"fields": ("must_change_password",)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("user_permissions",)
    list_filter = ["is_staff", "is_active"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        """Only the product's own permissions (granting credits, say) are given here:
        Django's add/change/delete/view ones are the console's, for superusers."""
        if db_field.name == "user_permissions":
            kwargs["queryset"] = Permission.objects.exclude(
                codename__regex=r"^(add|change|delete|view)_"
            ).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_deleted_objects(self, objs, request):
        # Drive files and connections are read-only in this console, which would make
        # Django refuse the delete; workspace_delete removes them properly instead.
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj: Workspace) -> None:
        services.workspace_delete(workspace=obj)

    def delete_queryset(self, request, queryset) -> None:
        for workspace in queryset:
            services.workspace_delete(workspace=workspace)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are made and revoked by workspace admins in the product."""

    list_display = ["email", "workspace", "role", "created_by", "expires_at", "accepted_at"]
    list_filter = ["role"]
    search_fields = ["email", "workspace__name"]
    exclude = ["token_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
