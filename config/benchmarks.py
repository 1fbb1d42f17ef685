"""What the benchmark commands (sandbox_bench, stream_bench, billing_bench) share."""

import argparse

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
