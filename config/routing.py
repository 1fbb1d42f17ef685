"""Every app's websockets, for the ASGI application (config/asgi.py): each app lists its
own in its routing.py."""

from agents import routing as agents_routing
from billing import routing as billing_routing
from skills import routing as skills_routing

websocket_urlpatterns = [
    *agents_routing.websocket_urlpatterns,
    *billing_routing.websocket_urlpatterns,
    *skills_routing.websocket_urlpatterns,
]
