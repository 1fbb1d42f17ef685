"""The reports as CSV: what people named is never run as a spreadsheet formula."""

import pytest
from django.utils import timezone

from billing import report_csv
from tests.billing.test_reports import query
from tests.billing.usage_helpers import charged_turn, conversation_of, paid

pytestmark = pytest.mark.django_db


def test_names_that_a_spreadsheet_would_run_are_escaped(team):
    paid(team)
    charged_turn(conversation_of(team, agent_name='=HYPERLINK("http://evil")'), [1000])
    today = timezone.localdate()
    lines = list(
        report_csv.usage_csv_lines(workspace=team.workspace, query=query(today, today, "agent"))
    )
    assert lines[1][2] == '\'=HYPERLINK("http://evil")'
    charges = list(
        report_csv.charges_csv_lines(workspace=team.workspace, period=query(today, today).period)
    )
    assert charges[1][2] == '\'=HYPERLINK("http://evil")'
