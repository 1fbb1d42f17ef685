"""Finance reports: usage over a period (chart, table, totals), its CSV, and one turn's
executions and charge. For the workspace's finance people and admins."""

import csv

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing import report_csv, reports, turn_usage
from billing.usage_chart import usage_chart
from workspaces.access import workspace_view
from workspaces.models import Role

report_view = workspace_view(roles=[Role.FINANCE, Role.ADMIN])


@report_view
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    try:
        query = _query(request)
    except ValidationError as error:
        context = {"errors": error.messages, "asked": request.GET, "groups": reports.GROUPS}
        return render(request, "billing/usage.html", context, status=400)
    report = reports.usage_report(workspace=request.workspace, query=query)
    context = {
        "report": report,
        "chart": usage_chart(workspace=request.workspace, query=query).as_json(),
        "charges": reports.recent_charges(workspace=request.workspace, period=query.period),
        "asked": {"since": query.period.since, "until": query.period.until, "group": query.group},
        "groups": reports.GROUPS,
        "group_label": reports.GROUPS[query.group],
        "time_zone": timezone.get_current_timezone_name(),
        "query_string": _query_string(query),
    }
    return render(request, "billing/usage.html", context)


@report_view
@require_GET
def usage_csv(request: HttpRequest) -> HttpResponse:
    try:
        query = _query(request)
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")
    workspace = request.workspace
    if request.GET.get("rows") == "charges":
        lines = report_csv.charges_csv_lines(workspace=workspace, period=query.period)
        name = f"usage-{workspace.slug}-{query.period.since}-{query.period.until}-charges.csv"
    else:
        lines = report_csv.usage_csv_lines(workspace=workspace, query=query)
        name = f"usage-{workspace.slug}-{query.period.since}-{query.period.until}-{query.group}.csv"
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(line) for line in lines), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@report_view
@require_GET
def turn_detail(request: HttpRequest, pk) -> HttpResponse:
    turn = turn_usage.turn_of_workspace(workspace=request.workspace, pk=pk)
    if turn is None:
        raise Http404("No such turn in this workspace.")
    detail = turn_usage.turn_usage(workspace=request.workspace, turn=turn)
    label = reports.conversation_label(turn.conversation)
    context = {"detail": detail, "turn": turn, "conversation_label": label}
    return render(request, "billing/turn_usage.html", context)


def _query(request: HttpRequest) -> reports.UsageQuery:
    return reports.usage_query_parse(
        since=request.GET.get("since"),
        until=request.GET.get("until"),
        group=request.GET.get("group"),
    )


def _query_string(query: reports.UsageQuery) -> str:
    period = query.period
    return f"since={period.since}&until={period.until}&group={query.group}"


class _Echo:
    """A file for csv.writer that hands each line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value
