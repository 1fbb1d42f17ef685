from django.urls import path

from skills import views

app_name = "skills"
urlpatterns = [
    path("", views.skill_list, name="list"),
    path("new/", views.skill_create, name="create"),
    path("import/", views.skill_import, name="import"),
    path("<int:pk>/", views.skill_detail, name="detail"),
    path("<int:pk>/edit/", views.skill_file_edit, name="edit"),
    path("<int:pk>/delete-file/", views.skill_file_delete, name="delete_file"),
    path("<int:pk>/export/", views.skill_export, name="export"),
    path("<int:pk>/delete/", views.skill_delete, name="delete"),
    path("attach/<int:agent_pk>/", views.agent_skills_save, name="attach"),
]
