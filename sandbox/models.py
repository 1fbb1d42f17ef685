"""What ran in a sandbox, kept so that active time can be charged exactly.

A session is one sandbox's life (one agent turn); an execution is one tool call in it.
Billing sums the executions' ``duration_ms``, measured by the host's clock, never the
session's lifetime: idle time between calls is free.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class SandboxSession(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class EndReason(models.TextChoices):
        CLOSED = "closed", "Closed by its owner"
        ERROR = "error", "Ended by an error"
        CANCELLED = "cancelled", "Cancelled"
        START_FAILED = "start_failed", "Could not start"
        REAPED = "reaped", "Removed by the reaper after its process ended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, null=True, blank=True, related_name="sandbox_sessions"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What opened it ("turn", "sandbox_run", ...), for people reading the records.
    purpose = models.CharField(max_length=40, blank=True)
    runtime = models.CharField(max_length=20)
    image = models.CharField(max_length=200)
    container_name = models.CharField(max_length=80, blank=True)
    # Owner process (host/pid/start ticks), so the reaper can close the records it orphaned.
    owner = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["status", "opened_at"])]

    def __str__(self) -> str:
        return f"sandbox session {self.id}"


class Execution(models.Model):
    class Kind(models.TextChoices):
        PYTHON = "python", "Python"
        SHELL = "shell", "Shell"
        UPLOAD = "upload", "Upload to the sandbox"
        DOWNLOAD = "download", "Download to Drive"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        ERROR = "error", "Error"
        TIMEOUT = "timeout", "Timed out"
        KILLED = "killed", "Killed"

    session = models.ForeignKey(SandboxSession, on_delete=models.CASCADE, related_name="executions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The code, the command, or "DRIVE_PATH -> SANDBOX_PATH" for transfers.
    source = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # Plain words for anything notable: timeouts, kills, refusals.
    message = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error_name = models.CharField(max_length=200, blank=True)
    error_value = models.TextField(blank=True)
    # The start of the output only (the stream itself went to the caller).
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    output_truncated = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} execution {self.pk}"


class SandboxPolicy(models.Model):
    """A workspace's sandbox maximums, set by its admins. Agents choose limits within
    them. A workspace without a row gets the operator's defaults (settings)."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="sandbox_policy"
    )
    max_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_memory_mb = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sandbox policy of {self.workspace}"
