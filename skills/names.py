"""The skill tools' names, importable without the rest of the app (providers use them)."""

LIST = "_skill_list"
READ = "_skill_read"
SKILL_TOOLS = (LIST, READ)
