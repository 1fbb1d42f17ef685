"""python manage.py import_skill --workspace SLUG PATH: a skill folder or zip, for skills
kept in git. The same checks as the browser's import."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from skills import bundle
from skills.services import skill_import
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Import a skill (a folder with a SKILL.md, or a zip of one) into a workspace."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("path", help="A skill folder or a .zip file.")

    def handle(self, *args, workspace: str, path: str, **options) -> None:
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
            skill = skill_import(
                workspace=target, files=files, created_by=None, note=f"Imported from {source.name}"
            )
        except ValidationError as error:
            raise CommandError(
                "The skill was not imported:\n" + "\n".join(error.messages)
            ) from None
        self.stdout.write(f"Imported skill “{skill.name}” into {target.slug}.")
