"""billing_bench's measuring part, on the test database with a few samples: it prints
figures for every part and leaves the ledger consistent."""

import pytest
from django.db import connection

from billing import bench


@pytest.mark.django_db(transaction=True)
def test_the_bench_measures_each_part_and_the_ledger_still_adds_up():
    report = bench.measure(calls=3)

    assert set(report["credit_check_ms"]) == {"0", "10", "50"}
    figures = [*report["credit_check_ms"].values(), report["gate_ms"], report["charge_ms"]]
    assert all(0 < figure["p50"] <= figure["p95"] for figure in figures)
    assert report["balance_matches_ledger"] is True
    assert ("concurrent" in report) == (connection.vendor == "postgresql")
    text = bench.table(report)
    assert "credit check, 50 other open sessions" in text
    assert "balance equals the sum of its entries : True" in text
