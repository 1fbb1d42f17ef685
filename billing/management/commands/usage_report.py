"""Usage over a period for finance automation: the same rows and totals as the
workspace's Usage page (billing.reports), as CSV or JSON on standard output."""

import csv
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing import report_csv, reports
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Prints a workspace's usage over a period, grouped, as CSV or JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--since", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--until", help="Last day, included, YYYY-MM-DD (default: today).")
        parser.add_argument("--group", default="day", help="day, agent, user or conversation.")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **options) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace has the slug “{options['workspace']}”.")
        try:
            query = reports.usage_query_parse(
                since=options["since"], until=options["until"], group=options["group"]
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            for line in report_csv.usage_csv_lines(workspace=workspace, query=query):
                writer.writerow(line)
        else:
            self.stdout.write(json.dumps(_as_json(workspace, query), indent=2))


def _as_json(workspace: Workspace, query: reports.UsageQuery) -> dict:
    report = reports.usage_report(workspace=workspace, query=query)

    def figures(item) -> dict:
        return {
            "credits": reports.plain(item.credits),
            "active_seconds": reports.plain(item.active_seconds),
            "sessions": item.sessions,
        }

    return {
        "workspace": workspace.slug,
        "since": query.period.since.isoformat(),
        "until": query.period.until.isoformat(),
        "group": query.group,
        "rows": [{"key": r.key, "label": r.label, **figures(r)} for r in report.rows],
        "totals": figures(report.totals),
    }
