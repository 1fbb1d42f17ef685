"""The agents app's websockets: a conversation's live turn."""

from django.urls import path

from agents.consumers import ConversationConsumer

websocket_urlpatterns = [
    path(
        "ws/w/<slug:ws>/conversations/<uuid:pk>/",
        ConversationConsumer.as_asgi(),
        name="conversation_socket",
    ),
]
