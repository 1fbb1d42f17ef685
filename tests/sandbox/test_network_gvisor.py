"""Network sessions under gVisor: sandboxes with a network run under the engine's runsc-net
registration, and the egress proxy decides for them as it does under runc (the lab and
its stand-in server: tests/sandbox/egress_lab.py). Engines without runsc-net refuse them:
tests/sandbox/test_network.py."""

import pytest

from sandbox.containers import docker_client
from sandbox.egress import links
from sandbox.network import NetworkPolicy
from sandbox.selectors import network_attempts
from sandbox.session import open_session
from tests.sandbox.egress_lab import HELLO, PORT, running_lab
from tests.sandbox.test_network import CONNECT, FETCH, allowlist, run, stdout

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_image")]


@pytest.fixture(scope="module")
def lab(docker_engine, sandbox_image, egress_proxy_image):
    with running_lab(sandbox_image) as lab:
        yield lab


@pytest.fixture
def gvisor_with_network(docker_engine):
    if "runsc-net" not in docker_engine.info().get("Runtimes", {}):
        pytest.fail("The Docker engine has no runsc-net: run the README's test command.")


def test_pip_install_works_under_gvisor_with_the_python_packages_preset(lab, gvisor_with_network):
    policy = NetworkPolicy.allowlist(presets=["python-packages"])
    with open_session(purpose="test", runtime="runsc", network=policy) as s:
        _, installed = run(s.shell("pip install six"))
        events, imported = run(s.python("import six; print(six.__file__)"))
        runtime = docker_client().api.inspect_container(s.sandbox.name)["HostConfig"]["Runtime"]
        gvisor = run(s.shell("dmesg | head -1"))[0]
    assert (runtime, s.record.runtime) == ("runsc-net", "runsc")
    assert "gVisor" in stdout(gvisor)
    assert installed["status"] == "ok", installed
    assert imported["status"] == "ok"
    assert stdout(events).startswith(f"{links.PACKAGES_DIR}/six.py")


def test_under_gvisor_only_the_listed_names_are_reached_and_only_through_the_proxy(
    lab, gvisor_with_network
):
    code = FETCH + (
        f"print(fetch('http://allowed.turnbox.test:{PORT}/')[0])\n"
        f"print(fetch('http://other.turnbox.test:{PORT}/')[0])\n"
    )
    direct = CONNECT + f"print(connect('{lab.server_ip}', {PORT})[0])"
    policy = allowlist(f"allowed.turnbox.test:{PORT}")
    with open_session(purpose="test", runtime="runsc", network=policy) as s:
        events, _ = run(s.python(code))
        direct_events, _ = run(s.python(direct))
    reached, refused = stdout(events).splitlines()
    assert reached == HELLO
    assert refused.startswith("HTTP 403")
    # Taken from the records at the close: the proxy's line may come after the status.
    found = network_attempts(session=s.record, blocked_only=True)
    assert [(a.host, a.verdict) for a in found] == [("other.turnbox.test", "blocked")]
    assert stdout(direct_events).startswith("failed")
