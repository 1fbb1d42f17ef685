from django.conf import settings
from django.db import models
from django.utils import timezone

from drive import rules
from workspaces.models import Workspace

TYPE_LABELS = {
    "text and code": "Text / code",
    "images": "Image",
    "PDF": "PDF document",
    "office documents": "Office document",
    "video": "Video",
    "audio": "Audio",
}


class DriveFile(models.Model):
    """One file of a workspace's Drive. Folders are implicit: they are the paths' prefixes.

    The content lives in the "drive" storage under ``blob_name``, a random key per upload,
    so user paths never reach the storage namespace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="drive_files")
    path = models.CharField(max_length=rules.MAX_PATH_BYTES)
    blob_name = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Set by the service to one shared instant, so "replaced" means updated_at > created_at.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "path"], name="drive_one_file_per_path")
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] + "/"

    @property
    def extension(self) -> str:
        return rules.extension_of(self.name)

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.category, "File")

    @property
    def category(self) -> str:
        file_type = rules.known_type(self.name)
        return file_type.category if file_type else "other"

    @property
    def was_replaced(self) -> bool:
        return self.updated_at > self.created_at
