import docker
import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import image


class Command(BaseCommand):
    help = (
        "Builds the sandbox image from platform/sandbox/ unless the Docker engine has it "
        "already, then prints its tag. With a registry reachable it builds the Dockerfile; "
        "without one, it builds offline from Debian's packages (as root, with debootstrap), "
        "into a base image kept while the packages are unchanged, with the bridge on top. "
        "When TURNBOX_SANDBOX_IMAGE names an image, it only checks that the engine has it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--method",
            choices=image.METHODS,
            default="auto",
            help="auto (default): the Dockerfile if a registry is reachable, else offline.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Build every layer again (the offline base too), even if the engine has them.",
        )
        parser.add_argument(
            "--print-tag",
            action="store_true",
            help="Only print the image sandboxes run; Docker is not contacted.",
        )

    def handle(self, *args, method: str, force: bool, print_tag: bool, **options) -> None:
        if print_tag:
            self.stdout.write(image.configured_image())
            return
        client = _docker_client()
        try:
            tag = self._ensure(client, method=method, force=force)
        except (image.ImageBuildError, docker.errors.DockerException) as error:
            raise CommandError(f"The sandbox image could not be built: {error}") from None
        finally:
            client.close()
        self.stdout.write(tag)

    def _ensure(self, client: docker.DockerClient, *, method: str, force: bool) -> str:
        configured = image.configured_image()
        if configured == image.image_tag():
            return image.build_image(client=client, method=method, force=force, log=self._log)
        if not image.image_exists(client, configured):
            raise CommandError(
                f"TURNBOX_SANDBOX_IMAGE names {configured}, which the Docker engine does not "
                "have: pull or load it there, or unset the variable to build Turnbox's own."
            )
        self._log(f"TURNBOX_SANDBOX_IMAGE names {configured}: nothing to build.")
        return configured

    def _log(self, text: str) -> None:
        # Progress goes to stderr, so that stdout holds only the tag.
        self.stderr.write(text, style_func=lambda line: line)


def _docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        raise CommandError(
            f"Docker is not reachable ({error}). Start the Docker engine or point DOCKER_HOST "
            "at one; as root, `make run` and `make test` install and start Debian's docker.io."
        ) from None
    return client
