"""Every tool a model may call, by name: the turn loop looks a call up here and runs
it, whatever the tool does. Which tools a turn offers depends on its agent: the code
tools where code may run, the skill tools where skills are attached."""

from functools import partial

from agents.tools import code, execute, files, skills
from agents.tools.types import Tool, ToolCallRequest, ToolOutcome, ToolRun, ToolSpec, refused

_HANDLERS = {
    code.PYTHON: execute.run_code,
    code.SHELL: execute.run_code,
    code.UPLOAD: files.transfer,
    code.DOWNLOAD: files.transfer,
}
TOOLS: dict[str, Tool] = {
    **{
        spec.name: Tool(
            spec=spec,
            handler=_HANDLERS[spec.name],
            title=partial(code.title_of, spec.name),
            code=partial(code.code_of, spec.name),
        )
        for spec in code.CODE_TOOL_SPECS
    },
    **{
        spec.name: Tool(spec=spec, handler=skills.answer, title=partial(skills.title_of, spec.name))
        for spec in skills.SKILL_TOOL_SPECS
    },
}


def specs_for(*, agent, code_tools: bool) -> list[ToolSpec]:
    """The tools a turn of ``agent`` offers the model."""
    offered = code.CODE_TOOL_SPECS if code_tools else []
    return [*offered, *skills.specs_for(agent=agent)]


def title_of(name: str, arguments: dict) -> str:
    """The heading of a call's cell; a name no tool has is shown as it is."""
    tool = TOOLS.get(name)
    return tool.title(arguments) if tool else name


def code_of(name: str, arguments: dict) -> tuple[str, str]:
    """(language, code) to show in the call's cell; empty for tools that run no code."""
    tool = TOOLS.get(name)
    return tool.code(arguments) if tool else ("", "")


async def dispatch(call: ToolCallRequest, run: ToolRun) -> ToolOutcome:
    """Runs one call. A call the model got wrong (arguments that are not an object, a
    name no tool has) is answered with an error it can act on, and nothing runs."""
    if call.arguments_error:
        outcome = refused(f"The arguments were not valid: {call.arguments_error}")
    elif (tool := TOOLS.get(call.name)) is None:
        outcome = refused(
            f"There is no tool named {call.name!r}. Call only the tools you were given."
        )
    else:
        outcome = await tool.handler(call, run)
    outcome.log = run.log
    return outcome
