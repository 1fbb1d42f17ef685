"""Seeds the demo workspace, people and data (idempotent) and prints the logins."""

from django.core.management.base import BaseCommand

from portal.demo import demo_seed


class Command(BaseCommand):
    help = "Creates the demo workspace and people if missing (idempotent) and prints the logins."

    def handle(self, *args, **options) -> None:
        seeded = demo_seed()
        for slug in seeded.foreign_slugs:
            self.stderr.write(
                f"note: /w/{slug}/ is a workspace the demo did not create; it was left alone."
            )
        for login in seeded.logins:
            if login.password_still_valid:
                self.stdout.write(f"login: {login.email} / {login.password}  ({login.what})")
            else:
                self.stdout.write(
                    f"login: {login.email} / (password changed since the demo was created)"
                    f"  ({login.what})"
                )
