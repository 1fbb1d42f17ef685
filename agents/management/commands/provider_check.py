from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.providers.conformance import conformance, table
from connections.models import Connection, Kind
from connections.selectors import connection_secret


class Command(BaseCommand):
    help = (
        "Asks the OpenAI-compatible server behind a connection what it supports (models, "
        "streaming, usage, tool calls with and without tool_choice, null content, context "
        "size) and prints a table ending with the way Turnbox will run code with it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", type=int, required=True, help="The connection's id.")
        parser.add_argument("--model", default="", help="Default: the connection's model.")

    def handle(self, *args, connection: int, model: str, **options) -> None:
        found = Connection.objects.filter(pk=connection).first()
        if found is None:
            raise CommandError(f"There is no connection {connection}.")
        if found.kind != Kind.OPENAI:
            raise CommandError(
                f"“{found.name}” is not an OpenAI-compatible connection "
                "(Anthropic's API always calls tools natively)."
            )
        rows = conformance(
            base_url=found.effective_base_url,
            api_key=connection_secret(connection=found),
            model=model or found.default_model,
        )
        self.stdout.write(f"“{found.name}” at {found.effective_base_url}\n{table(rows)}")
