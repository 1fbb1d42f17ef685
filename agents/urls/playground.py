"""The playground: conversations with agents."""

from django.urls import path

from agents.views import playground as views

app_name = "playground"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new, name="new"),
    path("<uuid:pk>/", views.conversation, name="conversation"),
    path("<uuid:pk>/delete/", views.delete, name="delete"),
    path("<uuid:pk>/rename/", views.rename, name="rename"),
]
