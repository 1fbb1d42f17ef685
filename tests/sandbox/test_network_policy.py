"""Network policies without Docker: entries, narrowing, and the proxy helper's decisions
(the app's records of them: test_egress_attempts.py, test_egress_feed.py)."""

import importlib.util
import json
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from sandbox.egress import attempts as egress_attempts
from sandbox.network import (
    MAIL_PORTS,
    Mode,
    NetworkPolicy,
    Rule,
    effective_policy,
    outside_policy,
    parse_rule,
    parse_rules,
)

HELPER_PATH = Path(__file__).resolve().parents[2] / "platform" / "egress" / "policy_helper.py"


def load_helper():
    # By path: a package named "platform" would shadow the standard library's.
    spec = importlib.util.spec_from_file_location("egress_policy_helper", HELPER_PATH)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    return helper


# -- entries -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("pypi.org", Rule("pypi.org")),
        ("  PyPI.org. ", Rule("pypi.org")),
        ("*.example.org", Rule("*.example.org")),
        ("example.org:8443", Rule("example.org", 8443)),
        ("*.Example.org:80", Rule("*.example.org", 80)),
        ("bücher.example", Rule("xn--bcher-kva.example")),
        ("a-b.c-d.co.uk", Rule("a-b.c-d.co.uk")),
    ],
)
def test_entries_are_normalised(entry, rule):
    assert parse_rule(entry) == rule


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("https://pypi.org", "not a URL"),
        ("pypi.org/simple", "not a URL"),
        ("10.0.0.1", "not IP addresses"),
        ("[::1]:80", "not IP addresses"),
        ("*", "choose the open policy"),
        ("*.com", "too broad"),
        ("foo.*.example.org", "only stand for the subdomains"),
        ("*foo.example.org", "letters, digits and hyphens"),
        ("localhost", "a public name has a dot"),
        ("example..org", "empty part"),
        ("-bad.example.org", "not at the start or end"),
        ("under_score.example.org", "letters, digits and hyphens"),
        ("example.org:0", "from 1 to 65535"),
        ("example.org:99999", "from 1 to 65535"),
        ("example.org:http", "from 1 to 65535"),
        ("a" * 64 + ".example.org", "longer than 63"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(entry, says):
    with pytest.raises(ValidationError) as error:
        parse_rule(entry)
    assert says in error.value.messages[0]
    assert entry.strip() in error.value.messages[0]


def test_every_bad_entry_is_named_at_once_and_blank_lines_and_repeats_are_dropped():
    with pytest.raises(ValidationError) as error:
        parse_rules(["pypi.org", "https://x.org", "", "*"])
    assert len(error.value.messages) == 2
    assert parse_rules(["pypi.org", "", "PYPI.org", "pypi.org:443"]) == (
        Rule("pypi.org"),
        Rule("pypi.org", 443),
    )


def test_a_preset_adds_the_package_index():
    policy = NetworkPolicy.allowlist(["example.org"], presets=["python-packages"])
    assert policy.allows("pypi.org", 443)
    assert policy.allows("files.pythonhosted.org", 443)
    with pytest.raises(ValidationError, match="Unknown preset"):
        NetworkPolicy.allowlist(presets=["ruby-gems"])


# -- matching ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "host", "port", "allowed"),
    [
        (Rule("pypi.org"), "pypi.org", 443, True),
        (Rule("pypi.org"), "PyPI.org.", 80, True),
        (Rule("pypi.org"), "pypi.org", 8443, False),
        (Rule("pypi.org"), "evilpypi.org", 443, False),
        (Rule("pypi.org"), "pypi.org.evil.com", 443, False),
        (Rule("pypi.org"), "sub.pypi.org", 443, False),
        (Rule("*.example.org"), "a.example.org", 443, True),
        (Rule("*.example.org"), "a.b.example.org", 80, True),
        (Rule("*.example.org"), "example.org", 443, False),
        (Rule("*.example.org"), "badexample.org", 443, False),
        (Rule("example.org", 8443), "example.org", 8443, True),
        (Rule("example.org", 8443), "example.org", 443, False),
    ],
)
def test_the_app_and_the_proxy_helper_agree_on_every_rule(rule, host, port, allowed):
    policy = NetworkPolicy(mode=Mode.ALLOWLIST, rules=(rule,))
    assert policy.allows(host, port) is allowed
    assert load_helper().policy_allows(policy.as_json(), host, port) is allowed


def test_open_allows_any_name_and_none_nothing():
    helper = load_helper()
    for policy, allowed in ((NetworkPolicy.open(), True), (NetworkPolicy.none(), False)):
        assert policy.allows("example.com", 22) is allowed
        assert helper.policy_allows(policy.as_json(), "example.com", 22) is allowed


@pytest.mark.parametrize("port", MAIL_PORTS)
def test_open_refuses_the_mail_ports_in_the_app_and_the_proxy_helper(port):
    open_ = NetworkPolicy.open()
    assert open_.allows("smtp.example.com", port) is False
    assert load_helper().policy_allows(open_.as_json(), "smtp.example.com", port) is False
    # An allowlist entry naming the port is the admin's own choice.
    listed = NetworkPolicy.allowlist([f"smtp.example.com:{port}"])
    assert load_helper().policy_allows(listed.as_json(), "smtp.example.com", port) is True


def test_an_agent_cannot_reach_the_mail_ports_through_an_open_workspace():
    agent = NetworkPolicy.allowlist(["smtp.example.com:25", "pypi.org"])
    assert outside_policy(NetworkPolicy.open(), agent.rules) == ["smtp.example.com:25"]
    narrowed = effective_policy(NetworkPolicy.open(), agent)
    assert [str(rule) for rule in narrowed.rules] == ["pypi.org"]


def test_a_policy_survives_its_json_form():
    policy = NetworkPolicy.allowlist(["pypi.org", "*.example.org:8443"])
    assert NetworkPolicy.from_json(json.loads(json.dumps(policy.as_json()))) == policy


# -- narrowing -----------------------------------------------------------------------------
WORKSPACE = NetworkPolicy.allowlist(
    ["pypi.org", "*.example.org", "api.example.com:8443", "*.eu.example.net"]
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (None, WORKSPACE),
        (NetworkPolicy.open(), WORKSPACE),
        (NetworkPolicy.none(), NetworkPolicy.none()),
        (NetworkPolicy.allowlist(["pypi.org"]), NetworkPolicy.allowlist(["pypi.org"])),
        # Within a wildcard: the narrower entry.
        (NetworkPolicy.allowlist(["a.example.org"]), NetworkPolicy.allowlist(["a.example.org"])),
        (
            NetworkPolicy.allowlist(["*.x.example.org"]),
            NetworkPolicy.allowlist(["*.x.example.org"]),
        ),
        # Wider than the workspace: cut down to it.
        (NetworkPolicy.allowlist(["*.example.net"]), NetworkPolicy.allowlist(["*.eu.example.net"])),
        # Not in the workspace's list at all, or on another port: nothing left.
        (NetworkPolicy.allowlist(["github.com"]), NetworkPolicy(mode=Mode.ALLOWLIST)),
        (NetworkPolicy.allowlist(["pypi.org:8080"]), NetworkPolicy(mode=Mode.ALLOWLIST)),
        (NetworkPolicy.allowlist(["pypi.org:443"]), NetworkPolicy.allowlist(["pypi.org:443"])),
        (
            NetworkPolicy.allowlist(["api.example.com"]),
            NetworkPolicy(mode=Mode.ALLOWLIST),  # the workspace allows 8443 only, the agent 80/443
        ),
    ],
)
def test_an_agent_narrows_the_workspace_policy_and_never_widens_it(agent, expected):
    assert effective_policy(WORKSPACE, agent) == expected


def test_an_agent_entry_is_inside_the_workspace_rules_taken_together():
    workspace = NetworkPolicy.allowlist(["pypi.org:80", "pypi.org:443", "*.example.org:443"])
    agent = parse_rules(["pypi.org", "a.example.org:443", "a.example.org", "pypi.org:8080"])
    assert outside_policy(workspace, agent) == ["a.example.org", "pypi.org:8080"]
    narrowed = effective_policy(workspace, NetworkPolicy(mode=Mode.ALLOWLIST, rules=agent[:1]))
    assert narrowed.allows("pypi.org", 80) and narrowed.allows("pypi.org", 443)


def test_narrowing_an_open_or_closed_workspace():
    agent = NetworkPolicy.allowlist(["pypi.org"])
    assert effective_policy(NetworkPolicy.open(), agent) == agent
    assert effective_policy(NetworkPolicy.none(), agent) == NetworkPolicy.none()
    assert effective_policy(NetworkPolicy.none(), NetworkPolicy.open()) == NetworkPolicy.none()


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("pypi.org", 443),
        ("a.example.org", 80),
        ("a.eu.example.net", 443),
        ("a.us.example.net", 443),
        ("github.com", 443),
        ("api.example.com", 8443),
    ],
)
def test_a_narrowed_policy_allows_exactly_what_both_allow(host, port):
    agent = NetworkPolicy.allowlist(["*.example.org", "*.example.net", "github.com", "pypi.org"])
    narrowed = effective_policy(WORKSPACE, agent)
    both = WORKSPACE.allows(host, port) and agent.allows(host, port)
    assert narrowed.allows(host, port) is both


# -- the proxy helper ----------------------------------------------------------------------
@pytest.fixture
def helper(tmp_path, monkeypatch):
    module = load_helper()
    monkeypatch.setattr(module, "STATE", str(tmp_path))
    (tmp_path / "policies").mkdir()
    return module


def write_policy(helper, address: str, policy: NetworkPolicy, *, expires_in: float = 60) -> None:
    data = policy.as_json() | {"session": "s-1", "expires": time.time() + expires_in}
    (Path(helper.STATE) / "policies" / address).write_text(json.dumps(data))


def records(capsys) -> list[list[str]]:
    return [line.split() for line in capsys.readouterr().err.splitlines()]


def test_the_helper_answers_from_the_policy_of_the_address_and_records_each_decision(
    helper, capsys
):
    write_policy(helper, "10.231.0.2", NetworkPolicy.allowlist(["pypi.org"]))
    assert helper.answer("10.231.0.2 pypi.org 443 7 policy") == "OK"
    assert helper.answer("10.231.0.2 example.com 443 8 policy") == 'ERR message="example.com"'
    # Squid escapes values; a hostile host name cannot add fields or lines to a record,
    # nor end the message early.
    hostile = helper.answer("10.231.0.2 a%20b%0Ac%22.example.com 80 9 policy")
    assert hostile == 'ERR message="abc.example.com"'
    assert helper.answer("10.231.0.2 internal.example 8080 10 private") == (
        'OK message="internal.example:8080"'
    )
    seen = records(capsys)
    assert [r[0] for r in seen] == ["turnbox-egress-record"] * 4
    assert [r[2:] for r in seen] == [
        ["s-1", "7", "allowed", "pypi.org", "443"],
        ["s-1", "8", "blocked", "example.com", "443"],
        ["s-1", "9", "blocked", "abc.example.com", "80"],
        ["s-1", "10", "private", "internal.example", "8080"],
    ]


@pytest.mark.parametrize(
    "host", ["a%20b.example.com", "a%0Ab.example.com", "example.com%00.evil.org", "a%2Fb.org"]
)
def test_the_helper_refuses_a_host_with_characters_no_host_name_has(helper, capsys, host):
    """Refused, not cleaned: Squid would resolve and reach the name as it came."""
    write_policy(helper, "10.231.0.2", NetworkPolicy.open())
    reply = helper.answer(f"10.231.0.2 {host} 80 3 policy")
    cleaned = helper.clean_host(helper.unquote(host))
    assert reply == f'ERR message="{cleaned}"'
    assert records(capsys)[0][2:] == ["s-1", "3", "blocked", cleaned, "80"]


def test_without_a_valid_policy_the_helper_allows_nothing(helper, capsys):
    write_policy(helper, "10.231.0.10", NetworkPolicy.open(), expires_in=-1)
    (Path(helper.STATE) / "policies" / "10.231.0.18").write_text("not json")
    for address in ("10.231.0.2", "10.231.0.10", "10.231.0.18", "../policies/x", "-"):
        assert helper.answer(f"{address} pypi.org 443 1 policy").startswith("ERR ")
    assert helper.answer("garbage") == "ERR"
    assert all(r[2] == "-" for r in records(capsys))


def test_the_helper_never_answers_bh_even_when_it_breaks(helper, monkeypatch, capsys):
    monkeypatch.setattr(helper, "answer", lambda line: 1 / 0)
    monkeypatch.setattr("sys.stdin", ["10.231.0.2 pypi.org 443 1 policy\n"])
    helper.main()
    assert capsys.readouterr().out == "ERR\n"


@pytest.mark.parametrize(
    ("verdict", "host", "port"),
    [("blocked", "example.com", 443), ("blocked", "example.com", 8443), ("private", "x.io", 80)],
)
def test_the_refusal_page_and_the_records_word_a_refusal_alike(verdict, host, port):
    attempt = egress_attempts.Attempt(host=host, port=port, verdict=verdict)
    page = "ERR_TURNBOX_PRIVATE" if verdict == "private" else "ERR_TURNBOX_BLOCKED"
    template = (HELPER_PATH.parent / "errors" / page).read_text().strip()
    assert template.replace("%o", load_helper().target(host, port)) == attempt.message
