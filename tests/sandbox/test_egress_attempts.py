"""The proxy's decision lines summed up into records per host, port and verdict, and what
those records tell the model and the person."""

from sandbox.egress import attempts as egress_attempts


def test_records_are_summed_per_host_port_and_verdict():
    lines = [
        "100.0 1 blocked example.com 443",
        "101.0 2 blocked example.com 443",
        "102.0 3 allowed pypi.org 443",
        # Allowed by the policy, then refused for its address: one refused request.
        "103.0 4 allowed internal.example 80",
        "103.1 4 private internal.example 80",
        "garbage",
    ]
    attempts = egress_attempts.summarise(lines)
    summary = [(a.host, a.port, a.verdict, a.count) for a in attempts]
    assert summary == [
        ("example.com", 443, "blocked", 2),
        ("pypi.org", 443, "allowed", 1),
        ("internal.example", 80, "private", 1),
    ]
    blocked = attempts[0]
    assert blocked.message == "network access to example.com is blocked by this workspace's policy"
    assert blocked.event() == {
        "type": "network_blocked",
        "host": "example.com",
        "port": 443,
        "reason": "policy",
        "count": 2,
        "message": blocked.message,
    }
    assert "private and internal addresses" in attempts[2].message
    assert egress_attempts.summarise(["1.0 5 blocked example.com 8443"])[0].message.startswith(
        "network access to example.com:8443 is blocked"
    )


def test_thousands_of_distinct_attempts_make_a_bounded_number_of_records():
    """CONNECT example.com:1 to :20000: the first are recorded one by one, the rest as one
    figure per verdict, so the session's record still shows every request."""
    lines = [f"{1000 + n}.0 {n} blocked example.com {n}" for n in range(1, 20_001)]
    lines += [f"{30000 + n}.0 {30000 + n} private internal.example 80" for n in range(3)]
    attempts = egress_attempts.summarise(lines, dropped={"blocked": 7, "private": 2})
    assert len(attempts) == egress_attempts.MAX_ATTEMPTS + 3
    assert [a.port for a in attempts[: egress_attempts.MAX_ATTEMPTS]] == list(range(1, 51))
    listed, blocked, private = attempts[-3:]
    assert (listed.host, listed.port, listed.verdict, listed.count) == (
        "internal.example",
        80,
        "private",
        3,
    )
    assert (blocked.host, blocked.port, blocked.verdict) == (egress_attempts.OTHERS, 0, "blocked")
    assert blocked.count == 20_000 - egress_attempts.MAX_ATTEMPTS + 7
    assert (private.host, private.verdict, private.count) == (egress_attempts.OTHERS, "private", 2)
    assert sum(a.count for a in attempts) == 20_000 + 3 + 7 + 2
    assert blocked.message == (
        "19,957 more network requests to other hosts and ports were blocked by "
        "this workspace's policy"
    )
    assert blocked.event()["message"] == blocked.message
    assert "private and internal addresses" in private.message


def test_many_allowed_requests_never_push_a_refusal_out_of_the_record():
    lines = [f"{1000 + n}.0 {n} allowed host{n}.example.org 443" for n in range(200)]
    lines += [f"{2000 + n}.0 {500 + n} blocked refused{n}.example.com 443" for n in range(3)]
    lines += [
        "3000.0 600 allowed metadata.example.net 80",
        "3000.1 600 private metadata.example.net 80",
    ]
    attempts = egress_attempts.summarise(lines)
    refused = [(a.host, a.verdict) for a in attempts if a.blocked]
    assert refused == [
        ("refused0.example.com", "blocked"),
        ("refused1.example.com", "blocked"),
        ("refused2.example.com", "blocked"),
        ("metadata.example.net", "private"),
    ]
    allowed = [a for a in attempts if not a.blocked]
    assert len(allowed) == egress_attempts.MAX_ATTEMPTS + 1
    assert (allowed[-1].host, allowed[-1].count) == (
        egress_attempts.OTHERS,
        200 - egress_attempts.MAX_ATTEMPTS,
    )


def test_a_record_with_an_impossible_port_is_ignored():
    assert egress_attempts.summarise(["1.0 1 blocked example.com 99999999999999999999"]) == []
