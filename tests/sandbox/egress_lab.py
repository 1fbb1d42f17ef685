"""A private egress proxy for tests, with a stand-in for a host on the Internet.

`running_lab` starts a proxy of its own (not the one `make run` keeps) whose outbound
network is a random /28 of TEST-NET-2 (198.51.100.0/24). A small HTTP server on that
network stands for a host on the Internet: documentation addresses are not among the
refused networks (platform/egress/refused-networks), so the proxy treats it as public.
The proxy's hosts file gives the test names their addresses: allowed.turnbox.test and
other.turnbox.test are that server, internal.turnbox.test is the proxy's own loopback
(where Squid itself listens) and metadata.turnbox.test the cloud metadata address.
While it runs, TURNBOX_EGRESS_PROXY names that proxy, and the sandboxes' networks come
from SANDBOX_SUBNETS, a range that platform/egress/refused-networks does not hold (so
the proxy refuses one sandbox's address to another only because the app adds that
range); the proxy is removed after.
"""

import contextlib
import ipaddress
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import override_settings
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

from sandbox.containers import docker_client
from sandbox.egress import proxy as egress_proxy

TEST_NET_2 = ipaddress.ip_network("198.51.100.0/24")
# The deprecated 6to4 relay range (RFC 7526): routed nowhere any more, and no private or
# reserved range of the built-in list.
SANDBOX_SUBNETS = "192.88.99.0/24"
PORT = 8080
HELLO = "hello from the test server"
SERVER = f"""
import http.server
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{HELLO}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("0.0.0.0", {PORT}), Hello)
print("ready", flush=True)
server.serve_forever()
"""


@dataclass(frozen=True)
class Lab:
    proxy: str
    server_ip: str


@contextlib.contextmanager
def running_lab(sandbox_image: str) -> Iterator[Lab]:
    """The lab, for a module's `lab` fixture (which needs the egress_proxy_image fixture
    too). Each has a proxy of its own, also when a run reaches two modules at once."""
    name = f"turnbox-egress-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    override = override_settings(TURNBOX_EGRESS_PROXY=name, TURNBOX_EGRESS_SUBNETS=SANDBOX_SUBNETS)
    override.enable()
    client = docker_client()
    server = f"{name}-server"
    try:
        subnet = _outbound_network(client, f"{name}-out")
        server_ip = str(subnet[5])
        _start_server(client, server, f"{name}-out", server_ip, sandbox_image)
        hosts = {
            "allowed.turnbox.test": server_ip,
            "other.turnbox.test": server_ip,
            "internal.turnbox.test": "127.0.0.1",
            "metadata.turnbox.test": "169.254.169.254",
        }
        proxy = egress_proxy.ensure_proxy(client=client, extra_hosts=hosts)
        yield Lab(proxy=proxy.id, server_ip=server_ip)
    finally:
        with contextlib.suppress(NotFound):
            client.api.remove_container(server, force=True)
        egress_proxy.remove_proxy(client=client)
        override.disable()


def _outbound_network(client, name: str):
    for _ in range(20):
        subnet = random.choice(list(TEST_NET_2.subnets(new_prefix=28)))
        try:
            client.api.create_network(
                name, driver="bridge", labels={egress_proxy.LABEL: "1"}, check_duplicate=True,
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
            )  # fmt: skip
        except APIError as error:
            if "overlap" in str(error).lower():
                continue  # another test run on this engine has that one
            raise
        return subnet
    pytest.fail("No free /28 in TEST-NET-2 for the test proxy's network.")


def _start_server(client, name: str, network: str, address: str, image: str) -> None:
    networking = client.api.create_networking_config(
        {network: client.api.create_endpoint_config(ipv4_address=address)}
    )
    container = client.api.create_container(
        image,
        command=["/opt/python/bin/python", "-c", SERVER],
        name=name,
        user="1000:1000",
        host_config=client.api.create_host_config(network_mode=network, read_only=True),
        networking_config=networking,
    )
    client.api.start(container)
    deadline = time.monotonic() + 30
    while b"ready" not in client.api.logs(container):
        if time.monotonic() > deadline:
            pytest.fail("The test HTTP server did not start.")
        time.sleep(0.1)
