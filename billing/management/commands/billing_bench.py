import json

from django.core.management.base import CommandParser

from billing import bench
from config.benchmarks import BenchCommand, positive


class Command(BenchCommand):
    help = (
        "Measures what metering costs: the credit check a running execution makes every "
        "quarter second (with 0, 10 and 50 other open sessions), the gate before a session "
        "opens, and charging sessions (one after another; on PostgreSQL also from 8 threads). "
        "Uses a throw-away copy of the configured database; no Docker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json")
        parser.add_argument(
            "--calls", type=positive, default=200, help="Samples per figure (default 200)."
        )

    def handle(self, *args, as_json, calls, **options) -> None:
        report = bench.run(calls=calls, progress=self.progress)
        self.stdout.write(json.dumps(report) if as_json else bench.table(report))
