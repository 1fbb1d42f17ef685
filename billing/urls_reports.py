from django.urls import path

from billing import views_reports as views

app_name = "usage"
urlpatterns = [
    path("", views.usage, name="report"),
    path("export.csv", views.usage_csv, name="csv"),
    path("turns/<uuid:pk>/", views.turn_detail, name="turn"),
]
