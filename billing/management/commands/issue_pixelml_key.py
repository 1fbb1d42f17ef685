"""Issues a PixelML key from the command line, with its credit account (and starting
credits: ``--credits``). Here, not in the connections app, because the account is
billing's."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import services


def _credits(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None


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
        parser.add_argument(
            "--credits",
            type=_credits,
            default=None,
            help="Credits the account starts with (a grant), so the key runs code at once.",
        )

    def handle(self, *args, name: str, credits: Decimal | None, **options) -> None:
        try:
            key, plaintext = services.pixelml_key_issue_funded(name=name, credits=credits)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        funded = f" with {credits.normalize():f} credits" if credits else ""
        self.stderr.write(
            f"Issued a PixelML key for “{key.name}”{funded}. It is shown only now; only its "
            "hash is stored:"
        )
        self.stdout.write(plaintext)
