import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workspaces.models import Workspace


@pytest.mark.usefixtures("sandbox_image")
def test_stream_bench_measures_every_printed_line_through_a_real_server():
    out = StringIO()
    call_command("stream_bench", "--json", "--prints", "5", stdout=out, stderr=StringIO())

    report = json.loads(out.getvalue())
    latency = report["latency_ms"]
    assert latency["count"] == 5
    assert 0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["max"]


@pytest.mark.django_db
def test_its_internal_prepare_step_refuses_a_real_database():
    with pytest.raises(CommandError, match="only inside the bench's own throw-away data folder"):
        call_command("stream_bench", "--prepare")
    assert not Workspace.objects.filter(slug="bench").exists()
