"""The model a turn talks to: its agent's connection, or Direct mode without one."""

from agents.providers.anthropic_messages import AnthropicProvider
from agents.providers.base import LLMProvider
from agents.providers.code_blocks import CodeBlocksProvider
from agents.providers.direct import DirectProvider
from agents.providers.openai_chat import OpenAIChatProvider
from connections.models import Kind
from connections.selectors import connection_secret


def provider_for(agent, *, code_execution: bool, refusal: str = "") -> LLMProvider:
    """The agent's model, or Direct mode for an agent without a connection."""
    if agent.connection is None:
        return DirectProvider(code_execution=code_execution, refusal=refusal)
    connection = agent.connection
    options = {
        "base_url": connection.effective_base_url,
        "api_key": connection_secret(connection=connection),
        "model": agent.model or connection.default_model,
    }
    model = (AnthropicProvider if connection.kind == Kind.ANTHROPIC else OpenAIChatProvider)(
        **options
    )
    if agent.tool_mode == "native":
        return model
    return CodeBlocksProvider(model, auto=agent.tool_mode == "auto")
