from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections import services


class Command(BaseCommand):
    help = (
        "Issues a PixelML key for a credit account and prints it once. Only its SHA-256 "
        "hash is stored: hand the printed key to the workspace admin, who pastes it under "
        "Connections. Revoke keys in the operator admin (/operator/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--name", required=True, help="Account the key bills, e.g. 'Acme Corp'."
        )

    def handle(self, *args, name: str, **options) -> None:
        try:
            key, plaintext = services.pixelml_key_issue(name=name)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stderr.write(
            f"Issued a PixelML key for “{key.name}”. It is shown only now; only its hash is stored:"
        )
        self.stdout.write(plaintext)
