from django.contrib import admin

from drive.models import DriveFile


@admin.register(DriveFile)
class DriveFileAdmin(admin.ModelAdmin):
    """Read-only: writes go through drive.services, which keep rows and blobs in step."""

    list_display = ["path", "workspace", "size", "content_type", "uploaded_by", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["path", "sha256"]
    list_select_related = ["workspace", "uploaded_by"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
