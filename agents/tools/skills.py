"""The two skill tools a model gets when its agent has skills: a browser (the attached
skills, their descriptions and files) and a reader (one file of one attached skill).
They read the database only (skills' selectors); no sandbox is involved."""

from channels.db import database_sync_to_async as db

from agents.tools.output import OutputLog
from agents.tools.types import ToolCallRequest, ToolOutcome, ToolRun, ToolSpec, refused
from skills import bundle
from skills.selectors import AttachedSkill, agent_skills, version_file, version_files

LIST = "_skill_list"
READ = "_skill_read"
SKILL_TOOLS = (LIST, READ)
# A file longer than this is cut, with a notice: templates are short, data need not be.
READ_CHARS = 40_000

SKILL_TOOL_SPECS = [
    ToolSpec(
        name=LIST,
        description=(
            "List the skills available to you: each skill's name, what it does and when to "
            "use it, and its files (instructions in SKILL.md, code templates, sample data)."
        ),
        parameters={"type": "object", "properties": {}},
    ),
    ToolSpec(
        name=READ,
        description=(
            "Read one file of one of your skills, e.g. skill 'data-analysis-toolkit', path "
            "'SKILL.md' or 'examples/sales-analysis.py'. Read SKILL.md first, then adapt the "
            "templates it names to the user's data."
        ),
        parameters={
            "type": "object",
            "properties": {
                "skill": {"type": "string", "description": "The skill's name."},
                "path": {"type": "string", "description": "A file path inside the skill."},
            },
            "required": ["skill", "path"],
        },
    ),
]


def specs_for(*, agent) -> list[ToolSpec]:
    return SKILL_TOOL_SPECS if agent_skills(agent=agent) else []


def skills_note(*, agent) -> str:
    """For the model's instructions: names and descriptions only; files on demand."""
    attached = agent_skills(agent=agent)
    if not attached:
        return ""
    lines = [
        f"You have skills: proven instructions and code templates. Use {LIST} to see their "
        f"files and {READ} to read one; when a request matches a skill, read its SKILL.md "
        "and adapt its templates instead of starting from scratch."
    ]
    lines.extend(f"- {a.skill.name}: {a.version.description}" for a in attached)
    return "\n".join(lines)


def title_of(name: str, arguments: dict) -> str:
    if name == LIST:
        return "Skills"
    return f"Read {arguments.get('skill', '')}/{arguments.get('path', '')}"


async def answer(call: ToolCallRequest, run: ToolRun) -> ToolOutcome:
    """The handler: the answer, also shown in the call's cell."""
    outcome = await db(answer_sync)(agent=run.turn.conversation.agent, call=call)
    outcome.log = run.log
    text = show(outcome, run.log)
    await run.emit("stdout" if outcome.status == "ok" else "stderr", text=text)
    return outcome


def answer_sync(*, agent, call: ToolCallRequest) -> ToolOutcome:
    """Answers a skill tool call; refusals are error results the model can act on."""
    attached = agent_skills(agent=agent)
    if call.name == LIST:
        return _ok(_listing(attached))
    return _read(attached, call.arguments)


def _listing(attached: list[AttachedSkill]) -> str:
    if not attached:
        return "No skills are attached to this agent."
    blocks = []
    for item in attached:
        files = [f"  - {f.path} ({f.size:,} bytes)" for f in version_files(version=item.version)]
        head = f"{item.skill.name} (version {item.version.number}): {item.version.description}"
        requirements = item.version.requirements
        needs = [f"  requirements: {', '.join(requirements)}"] if requirements else []
        blocks.append("\n".join([head, *needs, "  files:", *files]))
    return "\n\n".join(blocks)


def _read(attached: list[AttachedSkill], arguments: dict) -> ToolOutcome:
    name, raw_path = arguments.get("skill"), arguments.get("path")
    if not isinstance(name, str) or not isinstance(raw_path, str):
        return refused(f"{READ} needs 'skill' and 'path' (strings).")
    item = next((a for a in attached if a.skill.name == name), None)
    if item is None:
        names = ", ".join(a.skill.name for a in attached) or "none"
        return refused(f"There is no skill named {name!r} among yours ({names}).")
    try:
        path = bundle.clean_path(raw_path)
    except Exception as error:
        return refused(" ".join(getattr(error, "messages", [str(error)])))
    found = version_file(version=item.version, path=path)
    if found is None:
        return refused(f"{name} has no file {path!r}; {LIST} shows its files.")
    data = bytes(found.content)
    if not bundle.is_text(data):
        return _ok(
            f"{name}/{path} is a binary file ({len(data):,} bytes); it cannot be shown as text."
        )
    text = data.decode("utf-8")
    if len(text) > READ_CHARS:
        text = text[:READ_CHARS] + f"\n[... cut: the file has {len(data):,} bytes ...]"
    return _ok(f"{name}/{path}:\n{text}")


def _ok(text: str) -> ToolOutcome:
    return ToolOutcome(status="ok", result=f"status: ok\n{text}", duration_ms=0)


def show(outcome: ToolOutcome, log: OutputLog) -> str:
    """The text the browser's cell shows: the result without its status line."""
    text = outcome.result.split("\n", 1)[1] if "\n" in outcome.result else outcome.result
    log.text("stdout" if outcome.status == "ok" else "stderr", text + "\n")
    return text + "\n"
