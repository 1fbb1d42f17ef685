"""The networks the proxy refuses besides each session's policy: the Docker engine host's
addresses among them."""

import socket

import pytest

from sandbox.egress import refused as egress_refused
from sandbox.egress.errors import EgressUnavailable


def test_a_remote_engine_hosts_addresses_are_refused(monkeypatch, settings):
    settings.TURNBOX_EGRESS_REFUSE = []
    settings.TURNBOX_EGRESS_SUBNETS = "10.231.0.0/16"
    monkeypatch.setenv("DOCKER_HOST", "tcp://203.0.113.9:2376")
    assert egress_refused.refused_networks() == ["10.231.0.0/16", "203.0.113.9/32"]
    monkeypatch.setenv("DOCKER_HOST", "tcp://[2001:db8::7]:2376")
    assert egress_refused.refused_networks() == ["10.231.0.0/16", "2001:db8::7/128"]
    # A name: every address it resolves to (here, as the app resolves it).
    monkeypatch.setenv("DOCKER_HOST", "tcp://localhost:2375")
    expected = {
        f"{info[4][0]}/{32 if info[0] == socket.AF_INET else 128}"
        for info in socket.getaddrinfo("localhost", None, proto=socket.IPPROTO_TCP)
    }
    refused = egress_refused.refused_networks()
    assert "127.0.0.1/32" in refused
    assert set(refused) == {"10.231.0.0/16", *expected}


def test_a_remote_engine_host_that_does_not_resolve_stops_the_proxy_from_starting(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://no-such-engine.invalid:2376")
    with pytest.raises(EgressUnavailable, match=r"no-such-engine\.invalid \(DOCKER_HOST\)"):
        egress_refused.refused_networks()
