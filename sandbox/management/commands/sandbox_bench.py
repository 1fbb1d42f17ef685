import json

import requests
from django.core.management.base import CommandError, CommandParser
from docker.errors import DockerException

from config.benchmarks import BenchCommand, positive
from sandbox import bench
from sandbox.containers import SandboxUnavailable


class Command(BenchCommand):
    help = (
        "Measures sandboxes on this machine: cold and warm start, round trips, streaming, "
        "how many sessions fit at once and how closely time limits hold. With the defaults "
        "it takes two to three minutes. Sessions it opens are recorded with purpose bench."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object."
        )
        parser.add_argument(
            "--runs",
            type=positive,
            default=10,
            help="Samples per figure (default 10).",
        )
        parser.add_argument(
            "--concurrency",
            type=positive,
            default=20,
            help="Sessions to open and hold at once (default 20).",
        )
        parser.add_argument(
            "--runtime",
            choices=(*bench.RUNTIMES, "all"),
            default="all",
            help=(
                "all (default): runc, then runsc when the Docker engine has it, with half "
                "the runs and sessions (gVisor starts several times slower)."
            ),
        )

    def handle(self, *args, as_json, runs, concurrency, runtime, **options) -> None:
        try:
            report = bench.run(
                runtime=runtime, runs=runs, concurrency=concurrency, progress=self.progress
            )
        except (SandboxUnavailable, bench.BenchError) as error:
            raise CommandError(str(error)) from None
        except (DockerException, requests.exceptions.RequestException) as error:
            raise CommandError(f"Docker is not reachable: {error}") from None
        self.stdout.write(json.dumps(report) if as_json else bench.table(report))
