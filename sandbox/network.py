"""Network policies of sandboxes: what a session's code may reach, through the egress proxy.

    none       no network at all (the default): the container has no interface but loopback
    allowlist  only the listed domains, each on ports 80 and 443 or on the port it names
    open       every public address but the mail ports (for operators who accept the risk)

A workspace admin sets the workspace's policy; an agent may narrow it, never widen it
(``effective_policy``). Private, loopback and link-local addresses are refused under
every policy, by the proxy, after it resolves a name (platform/egress/). This module is
pure: it validates, combines and describes policies; sandbox/egress/ enforces them.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError

# Ports a rule without one allows: plain and TLS web traffic.
DEFAULT_PORTS = (80, 443)
# Mail submission and relay: refused under the open policy, so that a sandbox cannot send
# spam from the platform's addresses; an allowlist entry may still name one.
MAIL_PORTS = (25, 465, 587)
MAX_RULES = 100
MAX_DOMAIN_LENGTH = 253


class Mode(StrEnum):
    NONE = "none"
    ALLOWLIST = "allowlist"
    OPEN = "open"


@dataclass(frozen=True)
class Preset:
    label: str
    domains: tuple[str, ...]


# The package index: pip reads pypi.org's simple index and downloads from its file host.
PRESETS = {
    "python-packages": Preset(
        label="Python packages", domains=("pypi.org", "files.pythonhosted.org")
    ),
}


@dataclass(frozen=True)
class Rule:
    """One allowlist entry: a domain, or ``*.domain`` for its subdomains (at any depth,
    not the domain itself), on one port or, without one, on ports 80 and 443."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return DEFAULT_PORTS if self.port is None else (self.port,)

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, host: str, port: int) -> bool:
        host = normalise_host(host)
        if port not in self.ports:
            return False
        if self.wildcard:
            return host.endswith(self.host[1:])
        return host == self.host

    def intersect(self, other: "Rule") -> "Rule | None":
        """The rule allowing what both allow, or None when they share nothing."""
        host = _host_intersection(self, other)
        ports = set(self.ports) & set(other.ports)
        if host is None or not ports:
            return None
        if self.port is None and other.port is None:
            return Rule(host)
        return Rule(host, ports.pop())


def _host_intersection(a: Rule, b: Rule) -> str | None:
    if a.wildcard and b.wildcard:
        # *.x.example.org within *.example.org: the narrower of the two.
        if a.host == b.host or a.host.endswith(b.host[1:]):
            return a.host
        return b.host if b.host.endswith(a.host[1:]) else None
    if a.wildcard or b.wildcard:
        pattern, name = (a, b) if a.wildcard else (b, a)
        return name.host if name.host.endswith(pattern.host[1:]) else None
    return a.host if a.host == b.host else None


@dataclass(frozen=True)
class NetworkPolicy:
    mode: Mode = Mode.NONE
    rules: tuple[Rule, ...] = field(default=())

    @classmethod
    def none(cls) -> "NetworkPolicy":
        return cls()

    @classmethod
    def open(cls) -> "NetworkPolicy":
        return cls(mode=Mode.OPEN)

    @classmethod
    def allowlist(
        cls, entries: Iterable[str] = (), *, presets: Iterable[str] = ()
    ) -> "NetworkPolicy":
        """Raises ValidationError naming each bad entry or unknown preset."""
        return cls(mode=Mode.ALLOWLIST, rules=parse_rules([*entries, *preset_domains(presets)]))

    @property
    def enabled(self) -> bool:
        """Whether the session gets a network at all (through the proxy)."""
        return self.mode != Mode.NONE

    def allows(self, host: str, port: int) -> bool:
        """The policy's own answer; private addresses are refused anyway, by the proxy."""
        if self.mode == Mode.OPEN:
            return port not in MAIL_PORTS
        return self.mode == Mode.ALLOWLIST and any(r.matches(host, port) for r in self.rules)

    def describe(self) -> str:
        if self.mode == Mode.ALLOWLIST:
            listed = ", ".join(str(rule) for rule in self.rules) or "nothing"
            return f"allowlist: {listed}"
        return {Mode.NONE: "no network", Mode.OPEN: "open"}[self.mode]

    def as_json(self) -> dict:
        """What the proxy reads (and the session's record keeps)."""
        return {"mode": str(self.mode), "rules": [[r.host, r.port] for r in self.rules]}

    @classmethod
    def from_json(cls, data: dict) -> "NetworkPolicy":
        rules = tuple(Rule(host, port) for host, port in data.get("rules", []))
        return cls(mode=Mode(data.get("mode", Mode.NONE)), rules=rules)


def effective_policy(workspace: NetworkPolicy, agent: NetworkPolicy | None = None) -> NetworkPolicy:
    """The workspace's policy narrowed by an agent's: a (host, port) is allowed only when
    both allow it. An agent without a policy of its own (None) gets the workspace's."""
    if agent is None:
        return workspace
    if Mode.NONE in (workspace.mode, agent.mode):
        return NetworkPolicy.none()
    if agent.mode == Mode.OPEN:
        return workspace
    if workspace.mode == Mode.OPEN:  # every public address but the mail ports
        kept = tuple(rule for rule in agent.rules if rule.port not in MAIL_PORTS)
        return NetworkPolicy(mode=Mode.ALLOWLIST, rules=kept)
    narrowed = {kept for a in agent.rules for w in workspace.rules if (kept := a.intersect(w))}
    return NetworkPolicy(mode=Mode.ALLOWLIST, rules=tuple(sorted(narrowed, key=_rule_order)))


def outside_policy(policy: NetworkPolicy, rules: Iterable[Rule]) -> list[str]:
    """The rules (as entries) that ``policy`` does not wholly allow, all its rules taken
    together: ``pypi.org`` is inside ``pypi.org:80`` plus ``pypi.org:443``."""
    if policy.mode == Mode.OPEN:
        return [str(rule) for rule in rules if rule.port in MAIL_PORTS]
    if policy.mode == Mode.NONE:
        return [str(rule) for rule in rules]
    return [str(rule) for rule in rules if not _covered(rule, policy.rules)]


def _covered(rule: Rule, rules: tuple[Rule, ...]) -> bool:
    # Port by port: each of the rule's ports needs one rule that allows the whole host.
    return all(
        any(Rule(rule.host, port).intersect(other) == Rule(rule.host, port) for other in rules)
        for port in rule.ports
    )


def _rule_order(rule: Rule) -> tuple[str, int]:
    return rule.host, rule.port or 0


# --- entries -----------------------------------------------------------------------------


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def preset_domains(names: Iterable[str]) -> list[str]:
    names = list(names)
    if unknown := [name for name in names if name not in PRESETS]:
        known = ", ".join(PRESETS)
        raise ValidationError(f"Unknown preset {', '.join(unknown)} (known: {known}).")
    return [domain for name in names for domain in PRESETS[name].domains]


def parse_rules(entries: Iterable[str]) -> tuple[Rule, ...]:
    """Rules from entries (blank ones skipped, duplicates merged), or a ValidationError
    listing every entry that is wrong and why."""
    rules, problems = [], []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            rules.append(parse_rule(entry))
        except ValidationError as error:
            problems.extend(error.messages)
    if problems:
        raise ValidationError(problems)
    unique = tuple(dict.fromkeys(rules))
    if len(unique) > MAX_RULES:
        raise ValidationError(f"At most {MAX_RULES} domains can be listed ({len(unique)} given).")
    return unique


def parse_rule(entry: str) -> Rule:
    """``example.org``, ``*.example.org``, either with ``:port``; names are lower-cased
    and internationalised names become their ASCII (punycode) form."""
    text = entry.strip()
    if "://" in text or "/" in text:
        raise ValidationError(f"“{text}”: write the domain alone (pypi.org), not a URL.")
    host, port = _split_port(text)
    if _is_ip_address(host):
        raise ValidationError(f"“{text}”: list domain names, not IP addresses.")
    wildcard = host.startswith("*.")
    name = _ascii_name(text, host[2:] if wildcard else host)
    if "*" in name:
        raise ValidationError(
            f"“{text}”: a wildcard can only stand for the subdomains, as in *.example.org."
        )
    if wildcard and name.count(".") < 1:
        raise ValidationError(f"“{text}”: too broad; name a domain under it, as *.example.org.")
    if not wildcard and "." not in name:
        raise ValidationError(f"“{text}”: not a domain name (a public name has a dot).")
    return Rule(f"*.{name}" if wildcard else name, port)


def _split_port(text: str) -> tuple[str, int | None]:
    host, colon, port_text = text.rpartition(":")
    if not colon or "]" in port_text:
        return text.lower().rstrip("."), None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValidationError(f"“{text}”: the port must be a number from 1 to 65535.")
    return host.lower().rstrip("."), int(port_text)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _ascii_name(text: str, name: str) -> str:
    if name == "*":
        raise ValidationError(f"“{text}”: to allow every domain, choose the open policy.")
    try:
        labels = [_ascii_label(label) for label in name.split(".")]
    except ValueError as error:
        raise ValidationError(f"“{text}”: {error}.") from None
    ascii_name = ".".join(labels)
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        raise ValidationError(f"“{text}”: longer than {MAX_DOMAIN_LENGTH} characters.")
    return ascii_name


def _ascii_label(label: str) -> str:
    if label == "*":
        return label  # reported by the caller, which knows where it stood
    if not label:
        raise ValueError("it has an empty part (two dots, or a dot at the start)")
    if not label.isascii():
        try:
            label = label.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"“{label}” is not a valid name") from None
    if len(label) > 63:
        raise ValueError("a part between dots is longer than 63 characters")
    if not all(c.isalnum() or c == "-" for c in label) or "-" in (label[0], label[-1]):
        raise ValueError("use letters, digits and hyphens only, not at the start or end of a part")
    return label
