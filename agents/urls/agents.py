"""The agents' pages: list, create, detail, edit (with its tabs), model check, delete."""

from django.urls import path

from agents.views import agents as views

app_name = "agents"
urlpatterns = [
    path("", views.agent_list, name="list"),
    path("new/", views.agent_create, name="create"),
    path("<int:pk>/", views.agent_detail, name="detail"),
    path("<int:pk>/edit/", views.agent_edit, name="edit"),
    path("<int:pk>/edit/<slug:tab>/", views.agent_edit_tab, name="edit_tab"),
    path("<int:pk>/check-model/", views.agent_check_model, name="check_model"),
    path("<int:pk>/delete/", views.agent_delete, name="delete"),
]
