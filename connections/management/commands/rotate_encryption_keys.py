from django.core.management.base import BaseCommand, CommandError

from connections import services


class Command(BaseCommand):
    help = """Re-encrypts every stored connection secret with the first key of
TURNBOX_ENCRYPTION_KEYS.

Rotating the encryption key:
  1. Generate a key: python -c "from cryptography.fernet import Fernet;
     print(Fernet.generate_key().decode())"
  2. Put it FIRST in TURNBOX_ENCRYPTION_KEYS and keep the old keys after it
     (new,old), then restart every process so all of them can read both.
  3. Run this command. It reports how many secrets it rotated; secrets already under
     the first key are left alone, so running it again is harmless.
  4. Only when it reports nothing left to rotate and no unreadable secrets, remove
     the old keys from TURNBOX_ENCRYPTION_KEYS and restart again."""

    def handle(self, *args, **options) -> None:
        report = services.connection_secrets_rotate()
        self.stdout.write(
            f"Rotated {report.rotated} secret(s) to the first key; "
            f"{report.already_current} already used it."
        )
        if report.unreadable:
            ids = ", ".join(str(pk) for pk in report.unreadable)
            raise CommandError(
                f"{len(report.unreadable)} secret(s) could not be decrypted with any configured "
                f"key (connection ids {ids}). Was an old key removed before rotating?"
            )
