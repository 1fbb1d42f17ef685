import argparse
import json

from django.core.management.base import CommandError, CommandParser

from agents import bench
from config.benchmarks import BenchCommand, positive


class Command(BenchCommand):
    help = (
        "Measures the time from print() in a sandbox to the line reaching a websocket "
        "client of a running Daphne server on the embedded default (p50/p95). Uses a "
        "throw-away data folder; takes about half a minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json")
        parser.add_argument("--prints", type=positive, default=200, help="Lines (default 200).")
        parser.add_argument(
            "--interval-ms", type=positive, default=20, help="Between lines (default 20 ms)."
        )
        # Internal: run by the benchmark in the server's throw-away environment.
        parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, as_json, prints, interval_ms, prepare, **options) -> None:
        try:
            if prepare:
                self.stdout.write(json.dumps(bench.prepare()))
                return
            report = bench.run(prints=prints, interval_ms=interval_ms, progress=self.progress)
        except bench.BenchError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report) if as_json else bench.table(report))
