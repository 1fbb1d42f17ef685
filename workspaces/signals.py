"""Signals the workspaces app sends, so the apps built on it can act without being imported."""

from django.dispatch import Signal

# Sent by workspace_delete inside its transaction, just before the workspace row goes
# (kwargs: workspace). Receivers clean up what a database cascade cannot reach, such as
# files in storage; an exception rolls the whole deletion back.
workspace_deleting = Signal()
