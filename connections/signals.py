"""What the connections app asks the apps that use its connections, which it does not
know.

``pixelml_deleting`` is sent before a workspace's PixelML connection is deleted, with
``connection``. A receiver answers why the connection must stay for now, in words for
the person, or "" when it does not object; any answer refuses the delete (the sandbox
app objects while the workspace's sandboxes run: they are metered against the key and
charged to it when they end).
"""

from django.dispatch import Signal

pixelml_deleting = Signal()
