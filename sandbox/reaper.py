"""Removes sandboxes that no live process owns any more (a crash, a kill -9).

Each container and volume carries its owner (host/pid/start ticks) and creation time.
On the owner's host a dead owner is certain; for a container another host made (a
shared remote Docker host), only its age tells, past TURNBOX_SANDBOX_MAX_AGE_SECONDS.
The records of reaped sessions are closed too, and every reap is announced
(sandbox.signals.reaped) so that other apps see how they ended.
"""

import logging
import time

from django.conf import settings
from docker.errors import DockerException
from requests.exceptions import RequestException

from sandbox import services
from sandbox.containers import (
    CREATED_LABEL,
    LABEL,
    OWNER_LABEL,
    docker_client,
    owner_alive,
    remove_sandbox,
)
from sandbox.egress import links
from sandbox.signals import reaped

logger = logging.getLogger(__name__)

# A volume is made a moment before its container: younger ones may be mid-creation.
VOLUME_GRACE_SECONDS = 120


def _created(labels: dict) -> float:
    try:
        return float(labels.get(CREATED_LABEL, "0"))
    except ValueError:
        return 0.0


def _orphaned(labels: dict, now: float) -> bool:
    alive = owner_alive(labels.get(OWNER_LABEL, ""))
    if alive is not None:
        return not alive
    return now - _created(labels) > settings.TURNBOX_SANDBOX_MAX_AGE_SECONDS


def _unpause(api, name: str) -> None:
    """Sandboxes are frozen from inside, never paused by Docker; one paused all the same
    (by hand, or by an older release) took Docker's 10 s kill timeout to remove under
    gVisor, and none once unpaused."""
    try:
        api.unpause(name)
    except (DockerException, RequestException):
        logger.warning("Could not unpause orphaned sandbox %s before removing it.", name)


def reap() -> list[str]:
    """Removes orphaned sandboxes; returns the names it removed."""
    api = docker_client().api
    now = time.time()
    removed = []
    in_use = set()
    for container in api.containers(all=True, filters={"label": LABEL}):
        name = container["Names"][0].lstrip("/")
        if _orphaned(container.get("Labels") or {}, now):
            if container.get("State") == "paused":
                _unpause(api, name)
            remove_sandbox(name)
            removed.append(name)
        else:
            in_use.add(name)
    for volume in api.volumes(filters={"label": LABEL}).get("Volumes") or []:
        labels = volume.get("Labels") or {}
        young = now - _created(labels) < VOLUME_GRACE_SECONDS
        if volume["Name"] not in in_use and not young and _orphaned(labels, now):
            remove_sandbox(volume["Name"])
            removed.append(volume["Name"])
    # A network-enabled sandbox's network, made a moment before its container.
    for network in api.networks(filters={"label": LABEL}):
        labels = network.get("Labels") or {}
        young = now - _created(labels) < VOLUME_GRACE_SECONDS
        if network["Name"] not in in_use and not young and _orphaned(labels, now):
            links.remove_link(client=docker_client(), name=network["Name"])
            removed.append(network["Name"])
    services.sandbox_sessions_reaped(container_names=set(removed))
    if removed:
        logger.info("Reaped %d orphaned sandboxes.", len(set(removed)))
    reaped.send(sender=reap, names=sorted(set(removed)))
    return sorted(set(removed))
