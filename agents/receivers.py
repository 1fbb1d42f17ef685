"""What the agents app does when the apps below it announce something."""

import logging

from agents.services.turns import turns_stop_for_pixelml

logger = logging.getLogger(__name__)


def pixelml_withdrawn_stop(*, workspace_ids, why, **_) -> None:
    """A deleted PixelML connection or a revoked key stops the workspaces' turns that
    may run code: their processes, wherever they run, see it at their next poll."""
    stopped = turns_stop_for_pixelml(workspace_ids=workspace_ids, why=why)
    if stopped:
        logger.info("Stopped %d turn(s): their PixelML connection was withdrawn.", stopped)
