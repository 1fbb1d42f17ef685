from django.urls import path

from agents.consumers import ConversationConsumer
from billing.consumers import UsageConsumer
from skills.consumers import SkillTestConsumer

websocket_urlpatterns = [
    path(
        "ws/w/<slug:ws>/conversations/<uuid:pk>/",
        ConversationConsumer.as_asgi(),
        name="conversation_socket",
    ),
    path("ws/w/<slug:ws>/usage/", UsageConsumer.as_asgi(), name="usage_socket"),
    path(
        "ws/w/<slug:ws>/skills/<int:pk>/test/",
        SkillTestConsumer.as_asgi(),
        name="skill_test_socket",
    ),
]
