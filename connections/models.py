from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workspaces.models import Workspace


class Kind(models.TextChoices):
    PIXELML = "pixelml", "PixelML (code execution)"
    OPENAI = "openai", "OpenAI or OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"


# Where the SDKs go when no base URL is set; also named in "could not reach" errors.
DEFAULT_BASE_URLS = {
    Kind.OPENAI: "https://api.openai.com/v1",
    Kind.ANTHROPIC: "https://api.anthropic.com",
}


class PixelMLKey(models.Model):
    """A key issued by the platform operator. Only a SHA-256 of the key is kept: keys
    are 32 random bytes, so a slow password hash would add nothing but latency."""

    name = models.CharField("account name", max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "PixelML key"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        return f"pxm_{self.prefix}…"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Connection(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="connections")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # Fernet token (connections.crypto); read it through selectors.connection_secret.
    secret_encrypted = models.TextField(blank=True)
    secret_hint = models.CharField(max_length=40, blank=True)
    base_url = models.CharField(max_length=500, blank=True)
    default_model = models.CharField(max_length=200, blank=True)
    # PROTECT: keys are billing records; the operator revokes them instead of deleting.
    pixelml_key = models.ForeignKey(
        PixelMLKey,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connections",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="unique_connection_name_per_workspace"
            ),
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(kind="pixelml"),
                name="one_pixelml_connection_per_workspace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_pixelml(self) -> bool:
        return self.kind == Kind.PIXELML

    @property
    def is_active(self) -> bool:
        if not self.is_pixelml:
            return True
        return self.pixelml_key is not None and not self.pixelml_key.is_revoked

    @property
    def effective_base_url(self) -> str:
        return self.base_url or DEFAULT_BASE_URLS.get(self.kind, "")
