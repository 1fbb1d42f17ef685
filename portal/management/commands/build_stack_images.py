"""Builds the production stack's images (portal/stack_images.py) and prints the variables
that make platform/compose.yaml run them."""

import docker
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import stack_images
from sandbox import builds
from sandbox.management.commands.build_sandbox_image import _docker_client


class Command(BaseCommand):
    help = (
        "Builds the web/worker image from platform/Dockerfile and prints the image variables "
        "of platform/compose.yaml (TURNBOX_IMAGE=..., one a line). With a registry reachable "
        "it is the Dockerfile as it is, and PostgreSQL, Redis and nginx are the compose "
        "file's registry images; without one (as root, with debootstrap) the Dockerfile is "
        "built on a Debian base with the locked packages, and the other three come from "
        "Debian's packages (platform/offline/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--method", choices=builds.METHODS, default="auto")
        parser.add_argument("--tag", default="turnbox:latest", help="The web image's name.")
        parser.add_argument(
            "--force", action="store_true", help="Build every layer again, the bases too."
        )

    def handle(self, *args, method: str, tag: str, force: bool, **options) -> None:
        client = _docker_client()
        try:
            images = stack_images.build_stack_images(
                client=client, web_tag=tag, method=method, force=force, log=self._log
            )
        except (builds.ImageBuildError, docker.errors.DockerException) as error:
            raise CommandError(f"The stack's images could not be built: {error}") from None
        finally:
            client.close()
        for name, value in images.env().items():
            self.stdout.write(f"{name}={value}")

    def _log(self, text: str) -> None:
        # Progress goes to stderr, so that stdout holds only the variables.
        self.stderr.write(text, style_func=lambda line: line)
