"""The ASGI application that production and `make run` serve: HTTP and websockets."""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.limits import RequestSizeLimit  # noqa: E402
from config.origins import SameOriginValidator  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from sandbox import pool  # noqa: E402
from workspaces.mail import delivery_statement  # noqa: E402

# Said once at start-up: where invitations and password resets go, or that they go nowhere.
logging.getLogger("turnbox").info(delivery_statement())

# Sandboxes for this process's turns start ahead of time, in the background.
pool.start()

application = ProtocolTypeRouter(
    {
        "http": RequestSizeLimit(django_asgi_app, settings.TURNBOX_MAX_REQUEST_BYTES),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
