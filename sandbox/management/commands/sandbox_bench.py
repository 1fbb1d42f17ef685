import argparse
import json

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser
from docker.errors import DockerException

from sandbox import bench
from sandbox.containers import SandboxUnavailable


class Command(BaseCommand):
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
            type=_positive,
            default=10,
            help="Samples per figure (default 10).",
        )
        parser.add_argument(
            "--concurrency",
            type=_positive,
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
                runtime=runtime, runs=runs, concurrency=concurrency, progress=self._progress
            )
        except (SandboxUnavailable, bench.BenchError) as error:
            raise CommandError(str(error)) from None
        except (DockerException, requests.exceptions.RequestException) as error:
            raise CommandError(f"Docker is not reachable: {error}") from None
        self.stdout.write(json.dumps(report) if as_json else bench.table(report))

    def _progress(self, text: str) -> None:
        # On stderr, so that stdout holds only the report.
        self.stderr.write(text, style_func=lambda line: line)
        self.stderr.flush()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number
