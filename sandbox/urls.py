from django.urls import path

from sandbox import views

urlpatterns = [
    path("network/", views.network_policy, name="sandbox_network_policy"),
]
