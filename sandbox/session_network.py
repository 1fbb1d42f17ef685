"""A session's dealings with the egress proxy: the policy handed over before any code
runs, and what the proxy decided read back after each execution and at the close."""

import logging

from docker.errors import DockerException
from requests.exceptions import RequestException

from sandbox import services
from sandbox.containers import Sandbox, SandboxUnavailable, docker_client
from sandbox.egress import feed, links
from sandbox.egress.attempts import Attempt
from sandbox.egress.errors import EgressUnavailable, ProxyGone
from sandbox.models import Execution, SandboxSession
from sandbox.network import NetworkPolicy

logger = logging.getLogger(__name__)


def network_give(
    sandbox: Sandbox, *, record: SandboxSession, policy: NetworkPolicy, proxies: set[str]
) -> None:
    """Hands the session's policy to the proxy before any code runs in the sandbox;
    ``proxies`` learns the proxy, which forgets the session at its close."""
    if sandbox.link is None:
        return
    try:
        proxies.add(sandbox.link.proxy_id)
        feed.watch(client=docker_client(), link=sandbox.link, session_id=str(record.id))
        links.assign(
            client=docker_client(), link=sandbox.link, policy=policy, session_id=str(record.id)
        )
    except ProxyGone:
        raise
    except (EgressUnavailable, DockerException, RequestException) as exc:
        message = f"The sandbox's network policy could not be set: {exc}"
        raise SandboxUnavailable(message) from exc


def network_blocked(
    sandbox: Sandbox, *, record: SandboxSession, execution: Execution | None, last: bool = False
) -> list[Attempt]:
    """Records what the proxy decided for this sandbox since the last look; returns the
    refusals, which the caller and the model are told about."""
    if sandbox.link is None:
        return []
    # Never raises: the execution is finished and the sandbox removed whatever happens.
    try:
        attempts = feed.collect(
            client=docker_client(), link=sandbox.link, session_id=str(record.id), last=last
        )
    except Exception:
        logger.warning(
            "Could not read the egress proxy's records of %s.", sandbox.name, exc_info=True
        )
        return []
    if attempts:
        try:
            services.network_attempts_record(session=record, execution=execution, attempts=attempts)
        except Exception:
            logger.exception("The network records of session %s were lost.", record.pk)
    return [attempt for attempt in attempts if attempt.blocked]
