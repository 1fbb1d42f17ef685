from agents.providers.base import LLMProvider


def provider_for(agent, *, code_execution: bool, refusal: str = "") -> LLMProvider:
    """The agent's model, or Direct mode for an agent without a connection. Imports are
    lazy: this package's modules import the tools, which import this package's base."""
    if agent.connection is None:
        from agents.providers.direct import DirectProvider

        return DirectProvider(code_execution=code_execution, refusal=refusal)
    from connections.models import Kind
    from connections.selectors import connection_secret

    connection = agent.connection
    options = {
        "base_url": connection.effective_base_url,
        "api_key": connection_secret(connection=connection),
        "model": agent.model or connection.default_model,
    }
    if connection.kind == Kind.ANTHROPIC:
        from agents.providers.anthropic_messages import AnthropicProvider

        return AnthropicProvider(**options)
    from agents.providers.openai_chat import OpenAIChatProvider

    return OpenAIChatProvider(**options)
