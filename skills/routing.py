"""The skills app's websockets: a skill's test run."""

from django.urls import path

from skills.consumers import SkillTestConsumer

websocket_urlpatterns = [
    path(
        "ws/w/<slug:ws>/skills/<int:pk>/test/",
        SkillTestConsumer.as_asgi(),
        name="skill_test_socket",
    ),
]
