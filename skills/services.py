"""What changes skills. Every save makes a new version; nothing is ever edited in place,
so an agent pinned to a version reads exactly what it was pinned to."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from skills import bundle
from skills.models import AgentSkill, Skill, SkillFile, SkillVersion
from skills.selectors import skill_latest_version, version_contents
from workspaces.models import User, Workspace

NEW_SKILL_TEMPLATE = """\
---
{front}---

# {title}

## When to use this skill

Describe the requests this skill answers.

## How to use it

1. Read `examples/example.py`.
2. Adapt its parameters to the user's data, then run it.
"""

NEW_EXAMPLE = """\
# An example the agent adapts; "Test in sandbox" runs it as it is.
print("Hello from the skill")
"""


@transaction.atomic
def skill_import(
    *, workspace: Workspace, files: dict[str, bytes], created_by: User | None, note: str = ""
) -> Skill:
    """A new skill from a folder's files. Raises ValidationError with every problem."""
    clean, meta = bundle.check_files(files)
    duplicate = ValidationError(
        f"A skill named “{meta.name}” already exists in this workspace: import it as a new "
        "version of that skill, or edit its files."
    )
    if Skill.objects.filter(workspace=workspace, name=meta.name).exists():
        raise duplicate
    try:
        with transaction.atomic():  # the same name imported at the same moment
            skill = Skill.objects.create(
                workspace=workspace,
                name=meta.name,
                description=meta.description,
                created_by=created_by,
            )
    except IntegrityError:
        raise duplicate from None
    _new_version(skill, clean, meta, created_by, note or "Imported")
    return skill


@dataclass(frozen=True)
class SkillImport:
    """What an import did: a new skill, a new version of one, or nothing (the same files)."""

    skill: Skill
    version: int
    created: bool = False
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.created or self.added or self.changed or self.removed)

    def summary(self) -> str:
        """In words for the person who imported, the difference included."""
        name = f"Skill “{self.skill.name}”"
        if self.created:
            return f"{name} imported."
        if self.unchanged:
            return f"{name} is unchanged: version {self.version} has the same files."
        return f"{name} updated to version {self.version}: {self.difference()}."

    def difference(self) -> str:
        parts = [
            f"{label} {', '.join(paths)}"
            for label, paths in (
                ("changed", self.changed), ("added", self.added), ("removed", self.removed)
            )
            if paths
        ]  # fmt: skip
        return "; ".join(parts)


@transaction.atomic
def skill_import_or_update(
    *, workspace: Workspace, files: dict[str, bytes], created_by: User | None, note: str = ""
) -> SkillImport:
    """A new skill, or, when the workspace has one of that name, a new version of it with
    the folder's files (the files it no longer has are gone from the new version; agents
    pinned to an older version keep it). The same files again make no version."""
    clean, meta = bundle.check_files(files)
    skill = Skill.objects.select_for_update().filter(workspace=workspace, name=meta.name).first()
    if skill is None:
        skill = skill_import(workspace=workspace, files=clean, created_by=created_by, note=note)
        return SkillImport(skill=skill, version=1, created=True, added=sorted(clean))
    latest = skill_latest_version(skill=skill)
    old = version_contents(version=latest)
    result = SkillImport(
        skill=skill,
        version=latest.number + 1,
        added=sorted(set(clean) - set(old)),
        changed=sorted(path for path in clean if path in old and old[path] != clean[path]),
        removed=sorted(set(old) - set(clean)),
    )
    if result.unchanged:
        return SkillImport(skill=skill, version=latest.number)
    note = f"{note or 'Imported'}: {result.difference()}"
    _save(skill, clean, created_by, note, checked=(clean, meta))
    return result


@transaction.atomic
def skill_create(
    *, workspace: Workspace, name: str, description: str, created_by: User | None
) -> Skill:
    # Dumped, not formatted: a description with a colon must stay one YAML string.
    front = yaml.safe_dump({"name": name, "description": description}, sort_keys=False)
    text = NEW_SKILL_TEMPLATE.format(front=front, title=name.replace("-", " ").capitalize())
    files = {bundle.SKILL_FILE: text.encode(), "examples/example.py": NEW_EXAMPLE.encode()}
    return skill_import(
        workspace=workspace, files=files, created_by=created_by, note="Created in the browser"
    )


@transaction.atomic
def skill_file_save(*, skill: Skill, path: str, content: bytes, saved_by: User | None) -> Skill:
    """A new version with one file added or replaced."""
    path = bundle.clean_path(path)
    skill = Skill.objects.select_for_update().get(pk=skill.pk)
    files = version_contents(version=skill_latest_version(skill=skill))
    verb = "Edited" if path in files else "Added"
    files[path] = content
    return _save(skill, files, saved_by, f"{verb} {path}")


@transaction.atomic
def skill_file_delete(*, skill: Skill, path: str, deleted_by: User | None) -> Skill:
    if path == bundle.SKILL_FILE:
        raise ValidationError(f"{bundle.SKILL_FILE} cannot be deleted: every skill needs one.")
    skill = Skill.objects.select_for_update().get(pk=skill.pk)
    files = version_contents(version=skill_latest_version(skill=skill))
    if files.pop(path, None) is None:
        raise ValidationError(f"“{path}” is not a file of this skill.")
    return _save(skill, files, deleted_by, f"Deleted {path}")


def _save(
    skill: Skill, files: dict[str, bytes], user: User | None, note: str, checked=None
) -> Skill:
    """A new version of ``skill``; ``checked`` is check_files' answer when the caller
    has it already."""
    clean, meta = checked or bundle.check_files(files)
    if meta.name != skill.name:
        raise ValidationError(
            f"The name in {bundle.SKILL_FILE} must stay “{skill.name}”: agents refer to the "
            "skill by it. Import the folder as a new skill to rename it."
        )
    _new_version(skill, clean, meta, user, note)
    skill.description, skill.updated_at = meta.description, timezone.now()
    skill.save(update_fields=["description", "updated_at"])
    return skill


def _new_version(skill: Skill, files: dict[str, bytes], meta, user, note: str) -> SkillVersion:
    latest = skill_latest_version(skill=skill)
    version = SkillVersion.objects.create(
        skill=skill,
        number=(latest.number + 1) if latest else 1,
        description=meta.description,
        requirements=meta.requirements,
        note=note[:300],
        created_by=user,
    )
    SkillFile.objects.bulk_create(
        SkillFile(version=version, path=path, content=data, size=len(data))
        for path, data in sorted(files.items())
    )
    return version


@transaction.atomic
def skill_delete(*, skill: Skill) -> None:
    skill.delete()


@transaction.atomic
def agent_skills_set(*, agent, choices: dict[int, int | None]) -> None:
    """``choices``: skill id -> pinned version number (None: follow the latest). Skills
    left out are detached. Only the agent's own workspace's skills can be attached."""
    skills = {s.pk: s for s in Skill.objects.filter(workspace=agent.workspace, pk__in=choices)}
    if missing := set(choices) - set(skills):
        raise ValidationError(f"{len(missing)} chosen skill(s) do not exist in this workspace.")
    AgentSkill.objects.filter(agent=agent).exclude(skill_id__in=choices).delete()
    for skill_id, number in choices.items():
        pinned = None
        if number is not None:
            pinned = SkillVersion.objects.filter(skill_id=skill_id, number=number).first()
            if pinned is None:
                raise ValidationError(f"“{skills[skill_id].name}” has no version {number}.")
        AgentSkill.objects.update_or_create(
            agent=agent, skill_id=skill_id, defaults={"pinned_version": pinned}
        )


EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@transaction.atomic
def example_skills_import(*, workspace: Workspace, created_by: User | None) -> list[Skill]:
    """The skills shipped in skills/examples; those the workspace already has are kept."""
    imported = []
    for folder in sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir()):
        existing = Skill.objects.filter(workspace=workspace, name=folder.name).first()
        imported.append(
            existing
            or skill_import(
                workspace=workspace,
                files=bundle.read_folder(folder),
                created_by=created_by,
                note="Shipped example",
            )
        )
    return imported
