"""python manage.py import_skill --workspace SLUG [--update] PATH: a skill folder or zip,
for skills kept in git. The same checks as the browser's import; with --update, a skill
that exists gets a new version (the same files make none), as the browser does."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from skills import bundle
from skills.services import SkillImport, skill_import, skill_import_or_update
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Import a skill (a folder with a SKILL.md, or a zip of one) into a workspace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument(
            "--update",
            action="store_true",
            help="If the workspace has a skill of that name, make a new version of it.",
        )
        parser.add_argument("path", help="A skill folder or a .zip file.")

    def handle(self, *args, workspace: str, path: str, update: bool, **options) -> None:
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"There is no workspace “{workspace}”.")
        source = Path(path)
        try:
            if source.is_dir():
                files = bundle.read_folder(source)
            elif source.is_file():
                files = bundle.read_zip(source)
            else:
                raise CommandError(f"{path} is neither a folder nor a zip file.")
            note = f"Imported from {source.name}"
            if update:
                result = skill_import_or_update(
                    workspace=target, files=files, created_by=None, note=note
                )
            else:
                skill = skill_import(workspace=target, files=files, created_by=None, note=note)
                result = SkillImport(skill=skill, version=1, created=True)
        except ValidationError as error:
            raise CommandError(
                "The skill was not imported:\n" + "\n".join(error.messages)
            ) from None
        self.stdout.write(f"{result.summary()} (workspace {target.slug})")
