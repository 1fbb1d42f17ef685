"""The usage report, its CSV export and one turn's usage."""

from django.urls import path

from billing.views import usage as views

app_name = "usage"
urlpatterns = [
    path("", views.usage, name="report"),
    path("export.csv", views.usage_csv, name="csv"),
    path("turns/<uuid:pk>/", views.turn_detail, name="turn"),
]
