"""The code tools' names and what the model is told of them: run Python, run a shell
command, copy a Drive file in, save a sandbox file to Drive. Their handlers are
agents/tools/execute.py and agents/tools/files.py."""

from agents.tools.types import ToolSpec

PYTHON = "_code_execute_python"
SHELL = "_code_execute_shell"
UPLOAD = "_code_upload_to_session"
DOWNLOAD = "_code_download_from_session"
CODE_TOOLS = (PYTHON, SHELL, UPLOAD, DOWNLOAD)

_WORKSPACE_NOTE = "The sandbox's working folder is /workspace; it starts empty every turn."

CODE_TOOL_SPECS = [
    ToolSpec(
        name=PYTHON,
        description=(
            "Run Python code in this turn's sandbox (a Jupyter kernel: variables, imports "
            "and files persist between calls within the turn). Printed output, the last "
            "expression's value and charts (matplotlib figures show without saving) are "
            f"shown to the user. {_WORKSPACE_NOTE} Each call may run for a limited time. "
            "Pass save_images_to (a Drive folder such as /charts) to also keep the PNG and "
            "JPEG images the code shows in the workspace's Drive; the result gives each "
            "image's Drive path."
        ),
        parameters={
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Python code to run."},
                "save_images_to": {
                    "type": "string",
                    "description": (
                        "Optional Drive folder, e.g. /charts: every PNG or JPEG image the "
                        "code shows is saved there under a new name (nothing is overwritten)."
                    ),
                },
            },
            "required": ["code"],
        },
    ),
    ToolSpec(
        name=SHELL,
        description=(
            "Run a bash command in this turn's sandbox, in /workspace (for example "
            "`pip install PACKAGE` when the workspace's network policy allows it, `ls`, "
            "`head file.csv`). Returns the exit code and output."
        ),
        parameters={
            "type": "object",
            "properties": {"command": {"type": "string", "description": "A bash command."}},
            "required": ["command"],
        },
    ),
    ToolSpec(
        name=UPLOAD,
        description=(
            "Copy a file from the workspace's Drive into the sandbox, so code can read it. "
            "By default it lands in /workspace under its own name."
        ),
        parameters={
            "type": "object",
            "properties": {
                "drive_path": {"type": "string", "description": "Drive path, e.g. /data/q4.csv"},
                "sandbox_path": {
                    "type": "string",
                    "description": "Optional target path inside /workspace.",
                },
            },
            "required": ["drive_path"],
        },
    ),
    ToolSpec(
        name=DOWNLOAD,
        description=(
            "Save a file from the sandbox to the workspace's Drive, where the user can "
            "open it and where it outlives the turn. An existing Drive file is only "
            "overwritten when replace is true."
        ),
        parameters={
            "type": "object",
            "properties": {
                "sandbox_path": {"type": "string", "description": "Path inside /workspace."},
                "drive_path": {
                    "type": "string",
                    "description": "Drive path; ending in / keeps the file's name.",
                },
                "replace": {"type": "boolean", "default": False},
            },
            "required": ["sandbox_path", "drive_path"],
        },
    ),
]


def code_of(name: str, arguments: dict) -> tuple[str, str]:
    """(language, code) to show in the tool call's cell."""
    if name == PYTHON:
        return "python", str(arguments.get("code", ""))
    if name == SHELL:
        return "bash", str(arguments.get("command", ""))
    return "", ""


def title_of(name: str, arguments: dict) -> str:
    if name == PYTHON:
        return "Python"
    if name == SHELL:
        return "Shell"
    if name == UPLOAD:
        return f"Upload {arguments.get('drive_path', '')} to the sandbox"
    if name == DOWNLOAD:
        return f"Save {arguments.get('sandbox_path', '')} to Drive"
    return name
