"""The billing app's websockets: the usage report's live figures."""

from django.urls import path

from billing.consumers import UsageConsumer

websocket_urlpatterns = [
    path("ws/w/<slug:ws>/usage/", UsageConsumer.as_asgi(), name="usage_socket"),
]
