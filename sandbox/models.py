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
    # The network policy it ran under (sandbox.network.NetworkPolicy.as_json()).
    network = models.JSONField(default=dict, blank=True)

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


class NetworkAttempt(models.Model):
    """Requests of one execution's code to one host and port, and what the egress proxy
    decided: reached through the proxy, or blocked (and why)."""

    class Verdict(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        BLOCKED = "blocked", "Blocked by the policy"
        PRIVATE = "private", "Blocked: a private or internal address"

    session = models.ForeignKey(
        SandboxSession, on_delete=models.CASCADE, related_name="network_attempts"
    )
    # The execution whose end collected it (None: between executions, or at the close).
    execution = models.ForeignKey(
        Execution, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["first_at", "id"]
        indexes = [models.Index(fields=["session", "verdict"])]

    def __str__(self) -> str:
        return f"{self.verdict} {self.host}:{self.port} ({self.count})"

    @property
    def allowed(self) -> bool:
        return self.verdict == self.Verdict.ALLOWED


class SandboxPolicy(models.Model):
    """A workspace's sandbox maximums and network policy, set by its admins. Agents choose
    limits within them and may narrow the network policy. A workspace without a row gets
    the operator's defaults (settings) and no network."""

    class Network(models.TextChoices):
        NONE = "none", "No network"
        ALLOWLIST = "allowlist", "Only the listed domains"
        OPEN = "open", "Open: every public address"

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="sandbox_policy"
    )
    max_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_memory_mb = models.PositiveIntegerField(null=True, blank=True)
    network_policy = models.CharField(max_length=10, choices=Network.choices, default=Network.NONE)
    # Entries as sandbox.network.parse_rule accepts them, normalised ("*.example.org:8443").
    allowed_domains = models.JSONField(default=list, blank=True)
    # Names of sandbox.network.PRESETS ("python-packages").
    network_presets = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sandbox policy of {self.workspace}"
