"""What the sandbox engine tells the apps above it, which it does not know.

``session_closed`` is sent once a session has closed, its record with it (``session``,
a SandboxSession): billing charges it then. ``reaped`` is sent after every reap, with
the removed sandboxes' ``names``: the sessions it closed were never announced one by
one, so apps end their own records of dead processes then (the agents end the turns
whose process died; billing charges what was left uncharged).
"""

from django.dispatch import Signal

session_closed = Signal()
reaped = Signal()
