"""Forms of the agent pages: one per editor tab, each bound to an agent. They check only
the shape of what was typed; agents.services decides what is allowed."""

from django import forms

from agents import selectors
from agents.models import Agent, NetworkMode, ToolMode
from agents.services.agents import MAX_STEPS, MIN_MEMORY_MB, MIN_TIMEOUT_SECONDS
from connections.selectors import workspace_has_active_pixelml
from sandbox.selectors import sandbox_maximums, workspace_network_policy
from workspaces.models import Workspace

DIRECT_MODE_LABEL = "Direct mode (no LLM)"


class ConnectionSelect(forms.Select):
    """Each option carries its connection's default model; agents.js shows it as the model
    field's placeholder when the choice changes."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        connection = getattr(value, "instance", None)
        option["attrs"]["data-default-model"] = connection.default_model if connection else ""
        return option


class _AgentForm(forms.Form):
    def __init__(self, *args, agent: Agent | None = None, workspace: Workspace, **kwargs) -> None:
        if agent is not None:
            kwargs.setdefault("initial", {name: getattr(agent, name) for name in self.base_fields})
        super().__init__(*args, **kwargs)
        self.agent, self.workspace = agent, workspace


def _connection_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label=DIRECT_MODE_LABEL,
        help_text="The LLM connection the agent talks to. Direct mode runs the code blocks "
        "of each message as sent, without a model.",
        widget=ConnectionSelect(attrs={"data-agent-connection": ""}),
    )


def _model_field() -> forms.CharField:
    return forms.CharField(
        label="Model",
        max_length=200,
        required=False,
        help_text="Empty uses the connection's default model (shown greyed). "
        "Not used in Direct mode.",
        widget=forms.TextInput(attrs={"data-agent-model": "", "spellcheck": "false"}),
    )


def _set_up_model_fields(form: _AgentForm) -> None:
    connections = selectors.llm_connections_of_workspace(workspace=form.workspace)
    form.fields["connection"].queryset = connections
    chosen = form.initial.get("connection")
    form.fields["model"].widget.attrs["placeholder"] = chosen.default_model if chosen else ""


class AgentCreateForm(_AgentForm):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. Data analyst"})
    )
    description = forms.CharField(
        max_length=300,
        required=False,
        help_text="One line shown in the agent list and the playground.",
    )
    connection = _connection_field()
    model = _model_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _set_up_model_fields(self)


class AgentBasicsForm(_AgentForm):
    name = forms.CharField(max_length=100)
    description = forms.CharField(
        max_length=300,
        required=False,
        help_text="One line shown in the agent list and the playground.",
    )


class AgentModelForm(_AgentForm):
    connection = _connection_field()
    model = _model_field()
    max_steps = forms.IntegerField(
        label="Step limit",
        help_text=f"Model calls per message, 1 to {MAX_STEPS}: the turn stops at the limit.",
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_STEPS}),
    )
    tool_mode = forms.ChoiceField(
        label="How the model runs code",
        choices=ToolMode.choices,
        required=False,
        help_text="Native tool calls suit OpenAI, Anthropic and servers that support tools. "
        "Code blocks: the model writes ```python or ```bash blocks and they run in the "
        "sandbox, for models that cannot call tools (small local models). Automatic offers "
        "tools and runs code blocks when the model writes those instead.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _set_up_model_fields(self)

    def clean_tool_mode(self) -> str:
        """Left out of a post, the agent keeps its mode."""
        chosen = self.cleaned_data["tool_mode"]
        return chosen or (self.agent.tool_mode if self.agent else ToolMode.AUTO)


class AgentInstructionsForm(_AgentForm):
    instructions = forms.CharField(
        required=False,
        help_text="The system prompt: who the agent is, what it does, how it answers.",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "true"}),
    )


class LinesField(forms.CharField):
    """A list of entries typed one per line (commas work too)."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [
            entry.strip()
            for line in text.splitlines()
            for entry in line.split(",")
            if entry.strip()
        ]


class AgentCodeExecutionForm(_AgentForm):
    def clean_network_mode(self) -> str:
        # Not sent at all (an older page, a script): the workspace's policy.
        return self.cleaned_data.get("network_mode") or NetworkMode.WORKSPACE

    code_execution = forms.BooleanField(
        label="Code execution",
        required=False,
        widget=forms.CheckboxInput(attrs={"role": "switch"}),
    )
    timeout_seconds = forms.IntegerField(label="Timeout per run (seconds)", required=False)
    memory_mb = forms.IntegerField(label="Memory (MiB)", required=False)
    network_mode = forms.ChoiceField(
        label="Network access",
        choices=NetworkMode.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    network_rules = LinesField(
        label="Domains this agent may reach",
        required=False,
        help_text=(
            "One per line, within the workspace's policy: pypi.org, *.example.org, "
            "api.example.com:8443. For pip: pypi.org and files.pythonhosted.org."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.maximums = sandbox_maximums(workspace=self.workspace)
        self.workspace_network = workspace_network_policy(workspace=self.workspace).describe()
        self.pixelml_active = workspace_has_active_pixelml(workspace=self.workspace)
        switched_on = bool(self.agent and self.agent.code_execution)
        # Only the browser's control is disabled: a forged "on" still reaches the service,
        # which refuses it with the reason. An agent already on can always be switched off.
        self.can_switch_on = self.pixelml_active or switched_on
        if not self.can_switch_on:
            self.fields["code_execution"].widget.attrs["disabled"] = True
        limits = (
            ("timeout_seconds", MIN_TIMEOUT_SECONDS, self.maximums.timeout_seconds, "s"),
            ("memory_mb", MIN_MEMORY_MB, self.maximums.memory_mb, "MiB"),
        )
        for name, low, high, unit in limits:
            field = self.fields[name]
            field.widget.attrs.update({"min": low, "max": high, "placeholder": str(high)})
            field.help_text = (
                f"Between {low} and {high} {unit} (this workspace's maximum). "
                "Empty means the maximum."
            )
