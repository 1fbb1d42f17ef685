"""What reads skills, their versions and files, and the skills of an agent."""

from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from skills.models import AgentSkill, Skill, SkillFile, SkillVersion
from workspaces.models import Workspace


def skills_of_workspace(*, workspace: Workspace) -> QuerySet[Skill]:
    return Skill.objects.filter(workspace=workspace).annotate(
        agent_count=Count("agent_links", distinct=True)
    )


def skill_get(*, workspace: Workspace, pk: int) -> Skill:
    """The skill, only within this workspace: a 404 for any other's."""
    return get_object_or_404(Skill.objects.select_related("workspace"), workspace=workspace, pk=pk)


def skill_latest_version(*, skill: Skill) -> SkillVersion:
    return skill.versions.order_by("-number").first()


def skill_version_get(*, skill: Skill, number: int) -> SkillVersion:
    return get_object_or_404(SkillVersion, skill=skill, number=number)


def version_files(*, version: SkillVersion) -> QuerySet[SkillFile]:
    """Paths and sizes without the content (listing a folder reads no bytes)."""
    return version.files.defer("content").order_by("path")


def version_file(*, version: SkillVersion, path: str) -> SkillFile | None:
    return version.files.filter(path=path).first()


def version_contents(*, version: SkillVersion) -> dict[str, bytes]:
    return {f.path: bytes(f.content) for f in version.files.all()}


@dataclass(frozen=True)
class AttachedSkill:
    skill: Skill
    version: SkillVersion
    pinned: bool


def agent_skills(*, agent) -> list[AttachedSkill]:
    """The agent's skills with the version it reads: the pinned one, else the latest."""
    links = (
        AgentSkill.objects.filter(agent=agent, skill__workspace_id=agent.workspace_id)
        .select_related("skill", "pinned_version")
        .order_by("skill__name")
    )
    attached = []
    for link in links:
        version = link.pinned_version or skill_latest_version(skill=link.skill)
        if version is not None:
            attached.append(AttachedSkill(link.skill, version, link.pinned_version is not None))
    return attached


def agent_skill_links(*, agent) -> dict[int, AgentSkill]:
    links = AgentSkill.objects.filter(agent=agent).select_related("pinned_version")
    return {link.skill_id: link for link in links}


def agents_using_skill(*, skill: Skill) -> QuerySet:
    return AgentSkill.objects.filter(skill=skill).select_related("agent", "pinned_version")


@dataclass(frozen=True)
class SkillChoice:
    skill: Skill
    numbers: list[int]
    attached: bool
    pinned: int | None


def skill_choices_for_agent(*, agent) -> list[SkillChoice]:
    """Every skill of the agent's workspace, whether the agent has it, and its pin."""
    links = agent_skill_links(agent=agent)
    skills = Skill.objects.filter(workspace_id=agent.workspace_id).prefetch_related("versions")
    choices = []
    for skill in skills:
        link = links.get(skill.pk)
        pinned = link.pinned_version.number if link and link.pinned_version else None
        numbers = sorted((v.number for v in skill.versions.all()), reverse=True)
        choices.append(SkillChoice(skill, numbers, link is not None, pinned))
    return choices
