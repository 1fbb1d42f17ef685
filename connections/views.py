from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workspaces.access import workspace_view


@workspace_view()
def list(request: HttpRequest) -> HttpResponse:
    return render(request, "workspaces/dashboard.html", {"cards": []})
