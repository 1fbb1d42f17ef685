"""The portal's pages, at the root of the site and of each workspace (names unchanged)."""

from django.urls import path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("workspaces/new/", views.workspace_new, name="workspace_new"),
    path("frame/html/", views.html_frame, name="html_frame"),
    path("w/<slug:ws>/", views.dashboard, name="dashboard"),
    path("w/<slug:ws>/settings/", views.workspace_settings, name="workspace_settings"),
]
