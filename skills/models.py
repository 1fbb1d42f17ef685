"""Skills: folders of instructions and code templates that agents read on demand.

A skill's files live in the database, one immutable ``SkillVersion`` per save, so an
agent pinned to a version keeps reading exactly what was tested.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import Workspace


class Skill(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="skills")
    # From SKILL.md's front matter; fixed once the skill exists (agents refer to it).
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=1024)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_skill_name")
        ]

    def __str__(self) -> str:
        return self.name


class SkillVersion(models.Model):
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    description = models.CharField(max_length=1024)
    requirements = models.JSONField(default=list, blank=True)
    # What the save was: "Imported from sales.zip", "Edited examples/run.py".
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["skill", "number"], name="unique_skill_version")
        ]

    def __str__(self) -> str:
        return f"{self.skill.name} v{self.number}"


class SkillFile(models.Model):
    version = models.ForeignKey(SkillVersion, on_delete=models.CASCADE, related_name="files")
    # Relative to the skill's folder: "SKILL.md", "examples/sales-analysis.py".
    path = models.CharField(max_length=255)
    # Bytes: sample data may be binary. Sizes are capped by skills.bundle.
    content = models.BinaryField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["version", "path"], name="unique_skill_file_path")
        ]

    def __str__(self) -> str:
        return self.path


class AgentSkill(models.Model):
    """A skill attached to an agent: following the latest version, or pinned to one."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="skill_links")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agent_links")
    pinned_version = models.ForeignKey(
        SkillVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="unique_agent_skill")
        ]

    def __str__(self) -> str:
        return f"{self.skill_id} on agent {self.agent_id}"
