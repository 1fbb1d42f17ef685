"""Skills under test reuse the agents' fixtures: a paid workspace, a Direct-mode agent
and its conversation, and real Docker."""

from tests.agents.conftest import conversation, direct_agent, paid_team  # noqa: F401
from tests.sandbox.conftest import docker_engine, egress_proxy_image, sandbox_image  # noqa: F401
