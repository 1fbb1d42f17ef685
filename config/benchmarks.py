"""What the benchmark commands (sandbox_bench, stream_bench, billing_bench) share."""

import argparse
import statistics

from django.core.management.base import BaseCommand


class BenchCommand(BaseCommand):
    def progress(self, text: str) -> None:
        # On stderr, so that stdout holds only the report.
        self.stderr.write(text, style_func=lambda line: line)
        self.stderr.flush()


def positive(value: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def summary(samples: list[float]) -> dict:
    """Count, median, 95th percentile, least and most of timings (ms)."""
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }
