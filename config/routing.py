# Websocket routes; apps add theirs here as they gain consumers.
websocket_urlpatterns: list = []
