from django.urls import path

from drive import views

app_name = "drive"
urlpatterns = [
    path("", views.browse, name="browse"),
    path("upload/", views.upload, name="upload"),
    path("files/<int:pk>/download/", views.download, name="download"),
    path("files/<int:pk>/delete/", views.delete, name="delete"),
]
