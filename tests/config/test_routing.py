"""The ASGI application's websockets are every app's own, at their usual paths."""

from agents import routing as agents_routing
from billing import routing as billing_routing
from config.routing import websocket_urlpatterns
from skills import routing as skills_routing


def test_every_apps_websockets_are_served_at_their_paths():
    routes = {route.name: str(route.pattern) for route in websocket_urlpatterns}
    assert routes == {
        "conversation_socket": "ws/w/<slug:ws>/conversations/<uuid:pk>/",
        "usage_socket": "ws/w/<slug:ws>/usage/",
        "skill_test_socket": "ws/w/<slug:ws>/skills/<int:pk>/test/",
    }
    apps = [agents_routing, billing_routing, skills_routing]
    assert websocket_urlpatterns == [r for app in apps for r in app.websocket_urlpatterns]
