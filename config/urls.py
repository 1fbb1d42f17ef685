from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("operator/", admin.site.urls),
    path("", include("workspaces.urls")),
    path("w/<slug:ws>/connections/", include("connections.urls")),
    path("w/<slug:ws>/drive/", include("drive.urls")),
]
