"""Direct mode: no LLM, no key, no network. It runs the fenced ```python and ```bash
blocks of the user's message in order, and understands ``/upload`` and ``/download``
lines. Every reply says that no model is involved."""

import re
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
)
from agents.tools import code as tools
from agents.tools import skills as skill_tools

LABEL = "Direct mode (no LLM)"
_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_LANGUAGES = {"python": tools.PYTHON, "py": tools.PYTHON, "python3": tools.PYTHON}
_LANGUAGES |= {"bash": tools.SHELL, "sh": tools.SHELL, "shell": tools.SHELL}
USAGE = (
    "Put code in ```python or ```bash blocks and I run them in order, or use "
    "`/upload DRIVE_PATH [SANDBOX_PATH]` and "
    "`/download SANDBOX_PATH DRIVE_PATH [--replace]`; `/skills` lists the agent's skills "
    "and `/skill NAME PATH` shows one file of one."
)


@dataclass(frozen=True)
class Action:
    name: str
    arguments: dict
    problem: str = ""


def actions_of(text: str) -> list[Action]:
    """The message's code blocks and commands, in the order they appear."""
    found: list[tuple[int, Action]] = []
    for match in _FENCE.finditer(text):
        name = _LANGUAGES.get(match.group(1).lower())
        if name:
            key = "code" if name == tools.PYTHON else "command"
            found.append((match.start(), Action(name, {key: match.group(2)})))
    # Blanked, not removed: offsets must stay those of the original text.
    outside = _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    offset = 0
    for line in outside.splitlines(keepends=True):
        if action := _command(line.strip()):
            found.append((offset, action))
        offset += len(line)
    return [action for _, action in sorted(found, key=lambda pair: pair[0])]


def _command(line: str) -> Action | None:
    if not line.startswith(("/upload", "/download", "/skill")):
        return None
    try:
        words = shlex.split(line)
    except ValueError as error:
        return Action("", {}, problem=f"Could not read `{line}`: {error}.")
    verb, args = words[0], words[1:]
    if verb in ("/skills", "/skill"):
        return _skill_command(line, verb, args)
    if verb == "/upload" and len(args) in (1, 2):
        arguments = {"drive_path": args[0]} | ({"sandbox_path": args[1]} if len(args) == 2 else {})
        return Action(tools.UPLOAD, arguments)
    if verb == "/download":
        replace = "--replace" in args
        paths = [a for a in args if a != "--replace"]
        if len(paths) == 2:
            arguments = {"sandbox_path": paths[0], "drive_path": paths[1], "replace": replace}
            return Action(tools.DOWNLOAD, arguments)
    if verb in ("/upload", "/download"):
        return Action("", {}, problem=f"`{line}` is not understood. {USAGE}")
    return None


def _skill_command(line: str, verb: str, args: list[str]) -> Action:
    if verb == "/skills" and not args:
        return Action(skill_tools.LIST, {})
    if verb == "/skill" and len(args) == 2:
        return Action(skill_tools.READ, {"skill": args[0], "path": args[1]})
    return Action("", {}, problem=f"`{line}` is not understood. {USAGE}")


class DirectProvider:
    label = LABEL
    # Its last reply only reports what ran: the turn loop does not count it as a step,
    # so a message with as many blocks as the step limit still gets its answer.
    closing_reply_is_free = True

    def __init__(self, *, code_execution: bool, refusal: str = ""):
        """``refusal``: why code cannot run, in plain words, when it is not the agent's
        own switch (e.g. the workspace has no active PixelML connection)."""
        self.code_execution = code_execution
        self.refusal = refusal

    async def stream(
        self, *, system: str, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> AsyncIterator[ProviderEvent]:
        last_user = max(i for i, m in enumerate(messages) if m.role == "user")
        actions = actions_of(messages[last_user].content)
        results = [m for m in messages[last_user + 1 :] if m.role == "tool"]
        # Skill commands read the database only: they work with code execution off.
        needs_sandbox = any(
            a.name not in skill_tools.SKILL_TOOLS and not a.problem for a in actions
        )
        runnable = self.code_execution or not needs_sandbox
        for text in _reply(actions, results, runnable, self.refusal):
            yield TextDelta(text)
        done = len(results)
        if runnable and done < len(actions) and not _failed(results):
            action = actions[done]
            if not action.problem:
                yield ToolCallRequest(
                    id=f"direct-{done + 1}", name=action.name, arguments=action.arguments
                )
                yield Finish("tool_calls")
                return
        yield Finish("stop")


def _failed(results: list[ChatMessage]) -> bool:
    return bool(results) and not results[-1].content.startswith("status: ok")


def _reply(
    actions: list[Action], results: list[ChatMessage], code_execution: bool, refusal: str
) -> list[str]:
    done, total = len(results), len(actions)
    if not actions:
        return [f"{LABEL}: no model reads your message. {USAGE}"]
    if not code_execution and refusal:
        return [f"{LABEL}: nothing ran. {refusal}"]
    if not code_execution:
        return [
            f"{LABEL}: this agent's code execution is off, so nothing ran. An admin "
            "switches it on in the agent's Code Execution tab."
        ]
    texts = [f"{LABEL}: running {_count(total)} from your message, in order.\n"] if not done else []
    if _failed(results):
        return [f"\nStopped after step {done} of {total}: it did not succeed (see its output)."]
    if done < total and (problem := actions[done].problem):
        return [*texts, f"\nStopped at step {done + 1} of {total}: {problem}"]
    if done == total:
        return [f"\nDone: {_count(total)} ran. No LLM was involved."]
    return texts


def _count(total: int) -> str:
    return "1 step" if total == 1 else f"{total} steps"
