import requests
from django.core.management.base import BaseCommand, CommandError
from docker.errors import DockerException

from sandbox import reaper


class Command(BaseCommand):
    help = (
        "Removes the sandbox containers and volumes whose owning process has ended (or, for "
        "another host's, that are older than TURNBOX_SANDBOX_MAX_AGE_SECONDS), closes their "
        "session records, and prints what it removed."
    )

    def handle(self, *args, **options) -> None:
        try:
            removed = reaper.reap()
        except (DockerException, requests.exceptions.RequestException) as error:
            raise CommandError(f"Docker is not reachable: {error}") from None
        for name in removed:
            self.stdout.write(name)
        self.stdout.write(summary(len(removed)))


def summary(count: int) -> str:
    if not count:
        return "nothing to remove"
    return f"removed {count} sandbox" + ("" if count == 1 else "es")
