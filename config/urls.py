"""Every app's pages, under the workspace they belong to (w/<slug>/)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("operator/", admin.site.urls),
    path("", include("portal.urls")),
    path("", include("workspaces.urls")),
    path("w/<slug:ws>/connections/", include("connections.urls")),
    path("w/<slug:ws>/drive/", include("drive.urls")),
    path("w/<slug:ws>/settings/sandbox/", include("sandbox.urls")),
    path("w/<slug:ws>/agents/", include("agents.urls.agents")),
    path("w/<slug:ws>/playground/", include("agents.urls.playground")),
    path("w/<slug:ws>/skills/", include("skills.urls")),
    path("w/<slug:ws>/usage/", include("billing.urls.usage")),
    path("w/<slug:ws>/settings/billing/", include("billing.urls.billing")),
]
