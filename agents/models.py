"""Agents, their conversations, and what each turn did.

A turn is one user message and everything the agent did to answer it: model calls,
tool calls (each code tool call is one sandbox ``Execution``), and the outcome. Its
sandbox session lives exactly as long as the turn.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from connections.models import Connection
from sandbox.models import Execution, SandboxSession
from workspaces.models import Workspace


class NetworkMode(models.TextChoices):
    WORKSPACE = "workspace", "The workspace's policy"
    NONE = "none", "No network"
    ALLOWLIST = "allowlist", "Only the domains listed here"


class ToolMode(models.TextChoices):
    """How the model runs code: by calling tools, or by writing fenced code blocks that
    Turnbox runs (for models and servers that cannot call tools)."""

    AUTO = "auto", "Automatic: tool calls, or code blocks when the model writes those"
    NATIVE = "native", "Native tool calls"
    CODE_BLOCKS = "code_blocks", "Code blocks"


class Agent(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    instructions = models.TextField(blank=True)
    # No connection: Direct mode, which runs the user's own code blocks without an LLM.
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )
    model = models.CharField(max_length=200, blank=True)
    code_execution = models.BooleanField(default=False)
    # Per-agent limits; empty means the workspace's maximum (sandbox.policy).
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    max_steps = models.PositiveSmallIntegerField(default=12)
    tool_mode = models.CharField(max_length=16, choices=ToolMode.choices, default=ToolMode.AUTO)
    # The agent may narrow the workspace's network policy, never widen it.
    network_mode = models.CharField(
        max_length=16, choices=NetworkMode.choices, default=NetworkMode.WORKSPACE
    )
    # Allowlist entries ("pypi.org", "*.example.org:8443"), normalised when saved.
    network_rules = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Last "model reachable" check from the agent page.
    model_checked_at = models.DateTimeField(null=True, blank=True)
    model_check_ok = models.BooleanField(null=True, blank=True)
    model_check_message = models.CharField(max_length=500, blank=True)
    # Its table, one {"check", "ok", "detail"} per row (agents.providers.conformance.Row).
    model_check_rows = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_agent_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_direct(self) -> bool:
        return self.connection_id is None


class Conversation(models.Model):
    """Private to the person who started it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="conversations")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["workspace", "user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation with {self.agent}"


class Turn(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        ANSWERED = "answered", "Answered"
        STEP_LIMIT = "step_limit", "Stopped at the step limit"
        CANCELLED = "cancelled", "Stopped by the user"
        DISCONNECTED = "disconnected", "Stopped: the browser went away"
        INTERRUPTED = "interrupted", "Stopped: the server shut down"
        ERROR = "error", "Failed"

    class State(models.TextChoices):
        """How the turn ended as a person reads it at a glance (agents.turn_states):
        the same words in the transcript, the conversation list and the usage pages."""

        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        STOPPED = "stopped", "Stopped"
        OUT_OF_CREDITS = "out_of_credits", "Out of credits"

    FINISHED = (
        Status.ANSWERED,
        Status.STEP_LIMIT,
        Status.CANCELLED,
        Status.DISCONNECTED,
        Status.INTERRUPTED,
        Status.ERROR,
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    user_message = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Set by whoever wants the turn to stop (Stop button, a closed websocket); the process
    # running the turn watches it, so a Celery worker stops a turn a browser asked to stop.
    stop_requested = models.CharField(max_length=16, choices=Status.choices, blank=True)
    error_message = models.TextField(blank=True)
    # Set once, when the turn ends; empty while it is queued or running.
    state = models.CharField(max_length=16, choices=State.choices, blank=True)
    sandbox_session = models.ForeignKey(
        SandboxSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="turns"
    )
    # The process running it (host/pid/start ticks, as sandbox owners): a turn whose
    # process died is ended by the reaper.
    runner = models.CharField(max_length=200, blank=True)
    steps = models.PositiveSmallIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"], name="unique_turn_index"),
            # One turn at a time per conversation: a second message waits for the first.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_open_turn_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"turn {self.index} of {self.conversation_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.ended_at:
            return int((self.ended_at - self.started_at).total_seconds() * 1000)
        return None


class Message(models.Model):
    """One entry of the model's transcript, in a provider-neutral shape."""

    class Role(models.TextChoices):
        ASSISTANT = "assistant", "Assistant"
        TOOL = "tool", "Tool result"

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # Assistant: [{"id", "name", "arguments"}]; tool: the id it answers.
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["turn", "seq"]
        constraints = [models.UniqueConstraint(fields=["turn", "seq"], name="unique_message_seq")]

    def __str__(self) -> str:
        return f"{self.role} message {self.seq} of {self.turn_id}"


class ToolCall(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        ERROR = "error", "Error"
        TIMEOUT = "timeout", "Timed out"
        KILLED = "killed", "Killed"
        CANCELLED = "cancelled", "Cancelled"

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="tool_calls")
    seq = models.PositiveIntegerField()
    call_id = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    arguments = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # What the browser shows again after a reload: [{"type": "stdout"|"stderr"|"image"|
    # "file"|"notice", ...}], merged and capped (agents.tools.output.OutputLog).
    output = models.JSONField(default=list, blank=True)
    # What the model was told.
    result = models.TextField(blank=True)
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["turn", "seq"]
        constraints = [models.UniqueConstraint(fields=["turn", "seq"], name="unique_tool_seq")]

    def __str__(self) -> str:
        return f"{self.name} call {self.seq} of {self.turn_id}"
