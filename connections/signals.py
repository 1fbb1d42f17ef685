"""What the connections app tells the apps that use its connections, which it does not
know.

``pixelml_withdrawn`` is sent once a PixelML connection is deleted or a PixelML key
revoked, after the change is committed, with ``workspace_ids`` (the workspaces that lost
code execution by it) and ``why`` (plain words for the people whose work stops). The
agents stop those workspaces' running turns; the sandbox sessions' meters (billing)
stop their code at their next check. What ran is charged to the account each session
was bound to as it opened, whatever became of the connection.

``pixelml_checked`` is sent when a PixelML connection's Test finds its key valid, with
``key``. A receiver answers ``(words, warning)``: words added to the result (billing
tells the balance) and whether they are a warning (no credits left), or None.
"""

from django.dispatch import Signal

pixelml_withdrawn = Signal()
pixelml_checked = Signal()

KEY_REVOKED = (
    "This workspace's PixelML key was revoked, which switches code execution off at once: "
    "the turn was stopped. A workspace admin adds a valid key under Connections."
)
CONNECTION_DELETED = (
    "This workspace's PixelML connection was deleted, which switches code execution off "
    "at once: the turn was stopped. A workspace admin adds one under Connections."
)


def pixelml_withdrawn_announce(*, workspace_ids: list[int], why: str) -> None:
    """Sent robustly: a failing receiver never undoes the delete or the revocation."""
    if workspace_ids:
        pixelml_withdrawn.send_robust(sender=None, workspace_ids=workspace_ids, why=why)
