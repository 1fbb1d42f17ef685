"""cluster_bench: the production topology on one host, under load and faults
(portal/cluster_run.py)."""

import json
import os
import shutil
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from config.benchmarks import BenchCommand, positive
from portal import cluster_run
from portal.cluster import ClusterError


class Command(BenchCommand):
    help = (
        "Runs two Daphne processes, two Celery workers, a Redis of its own and a database of "
        "its own on the PostgreSQL server given (--postgres, default TURNBOX_TEST_POSTGRES_URL), "
        "then 20 concurrent conversations over both web processes, a Stop through the other "
        "web process, a worker killed mid-turn and Redis restarted mid-run, and prints what "
        "held and the figures. Needs redis-server on PATH and a Docker engine with the "
        "sandbox image. --prepare and --report are its own steps inside the cluster."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--conversations", type=positive, default=20)
        parser.add_argument("--postgres", default=os.environ.get("TURNBOX_TEST_POSTGRES_URL"))
        parser.add_argument("--redis-server", default=shutil.which("redis-server"))
        parser.add_argument("--logs", type=Path, help="Keep the processes' logs in this folder.")
        parser.add_argument("--prepare", type=positive, help="(internal) people to create")
        parser.add_argument("--report", nargs="*", help="(internal) turn ids to report on")

    def handle(self, *args, **options) -> None:
        try:
            if options["prepare"]:
                self.stdout.write(json.dumps(cluster_run.prepare(options["prepare"])))
                return
            if options["report"] is not None:
                self.stdout.write(json.dumps(cluster_run.records(options["report"])))
                return
            report = self._bench(options)
        except ClusterError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report, indent=2) if options["json"] else table(report))
        if failed := [name for name, held in report["checks"].items() if not held]:
            raise CommandError("Did not hold: " + "; ".join(failed) + ".")

    def _bench(self, options: dict) -> dict:
        if not options["postgres"]:
            raise CommandError(
                "Give a PostgreSQL server (--postgres URL or TURNBOX_TEST_POSTGRES_URL): the "
                "bench creates a database of its own there and drops it afterwards."
            )
        if not options["redis_server"]:
            raise CommandError("redis-server is not on PATH (Debian: apt-get install redis-server)")
        return cluster_run.run(
            postgres_url=options["postgres"],
            redis_server=options["redis_server"],
            conversations=options["conversations"],
            progress=self.progress,
            logs=options["logs"],
        )


def table(report: dict) -> str:
    quiet, load, kill = report["quiet"]["latency_ms"] or {}, report["load"], report["kill"]
    busy, recorded = load["latency_ms"] or {}, report["recorded"]
    return "\n".join(
        [
            "two Daphne, two Celery workers, Redis, PostgreSQL, this host's Docker engine",
            f"  one turn alone, print -> browser : p50 {quiet.get('p50')} ms, "
            f"p95 {quiet.get('p95')} ms",
            f"  {load['turns']} conversations at once        : "
            f"{load['turns_per_minute']} turns/min, p50 {busy.get('p50')} ms, "
            f"p95 {busy.get('p95')} ms",
            f"  complete and in order           : {load['complete_and_in_order']} of "
            f"{load['turns']}, lost events {load['lost_events']}, "
            f"foreign events {load['foreign_events']}",
            f"  Stop through the other web      : {report['stop']['status']} in "
            f"{report['stop']['stop_to_finished_ms']} ms",
            f"  worker killed mid-turn          : {kill['killed_worker_turns']} turns cut, "
            f"ended in the browser within {kill['bound_seconds']} s: "
            f"{kill['ended_within_bound']}, later turns answered {kill['later_turns_answered']}",
            f"  Redis restarted mid-run         : {report['redis_restart']['statuses']}, "
            f"recorded lines {report['redis_restart']['recorded_lines']}, live lines missed "
            f"{report['redis_restart']['live_lines_missed']}",
            f"  recorded                        : {recorded['statuses']}, double charges "
            f"{recorded['double_charges']}, uncharged {recorded['uncharged_sessions']}, "
            f"open sessions {recorded['open_sessions']}",
            f"  orphan containers               : {len(report['orphan_containers'])}",
            *(
                f"  {'held' if held else 'FAILED'}: {name}"
                for name, held in report["checks"].items()
            ),
        ]
    )
