#!/usr/bin/python3
"""Squid's external ACL helper for the sandboxes' egress proxy (see squid.conf beside it).

Each sandbox that may reach the network has a Docker network of its own, shared with
nobody but this proxy, so the proxy's address on that network names the session. The
Turnbox app writes the session's policy to policies/<that address> before any code
runs; this helper reads it for every request and writes each decision, at once and
before Squid answers, as one line on its stderr (the container's, which Squid hands to
its helpers), where the app's processes read the lines of their own sessions:

    turnbox-egress-record TIME SESSION TRANSACTION VERDICT HOST PORT

Squid sends one line per question, URL-escaped values separated by spaces:

    LOCAL_ADDRESS HOST PORT TRANSACTION CHECK

CHECK is "policy" (may this session reach HOST:PORT?) or "private" (HOST resolved to a
refused address: record it; the answer is always yes, meaning "refuse"). The answer is
OK (the ACL matches) or ERR. A policy that is missing, unreadable or expired allows
nothing. Standard library only: the proxy image has no other
packages. The app's sandbox/network.py applies the same rules for its own checks.
"""

import json
import os
import sys
import time
from urllib.parse import unquote

STATE = os.environ.get("TURNBOX_EGRESS_STATE", "/run/turnbox-egress")
# Ports a rule without one allows.
DEFAULT_PORTS = (80, 443)
# Mail: never under the open policy (only an allowlist entry that names the port).
MAIL_PORTS = (25, 465, 587)
RECORD = "turnbox-egress-record"
# Files of sessions long gone are removed now and then (a session lasts one turn).
MAX_AGE_SECONDS = int(os.environ.get("TURNBOX_EGRESS_MAX_AGE_SECONDS", "86400"))
SWEEP_EVERY_SECONDS = 3600


HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_:")
MAX_HOST_LENGTH = 255


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def valid_host(host: str) -> bool:
    """Whether the name holds only what a host name or address is made of. Anything else
    is refused, not cleaned: Squid would resolve the name as it came, not the cleaned one."""
    host = normalise_host(host)
    return 0 < len(host) <= MAX_HOST_LENGTH and set(host) <= HOST_CHARACTERS


def clean_host(host: str) -> str:
    """Only what a host name or address is made of: it goes into records and messages."""
    cleaned = "".join(c for c in normalise_host(host) if c in HOST_CHARACTERS)
    return cleaned[:MAX_HOST_LENGTH] or "-"


def rule_matches(pattern: str, rule_port, host: str, port: int) -> bool:
    if rule_port is None:
        if port not in DEFAULT_PORTS:
            return False
    elif port != rule_port:
        return False
    if pattern.startswith("*."):
        # Subdomains at any depth; the bare domain needs a rule of its own.
        return host.endswith(pattern[1:])
    return host == pattern


def policy_allows(policy: dict, host: str, port: int) -> bool:
    mode = policy.get("mode")
    if mode == "open":
        return port not in MAIL_PORTS
    if mode != "allowlist":
        return False
    host = normalise_host(host)
    rules = policy.get("rules", [])
    return any(rule_matches(pattern, rule_port, host, port) for pattern, rule_port in rules)


def _safe_name(address: str) -> str | None:
    # The address comes from Squid, but it names a file: nothing but an IP's characters.
    if address and all(c in "0123456789abcdefABCDEF.:" for c in address):
        return address.replace(":", "_")
    return None


def load_policy(address: str) -> dict | None:
    name = _safe_name(address)
    if name is None:
        return None
    try:
        with open(os.path.join(STATE, "policies", name)) as file:
            policy = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(policy, dict) or policy.get("expires", 0) < time.time():
        return None
    return policy


def record(policy: dict | None, transaction: str, verdict: str, host: str, port: int) -> None:
    session = str((policy or {}).get("session", "-"))
    if not session.replace("-", "").isalnum():
        session = "-"
    transaction = transaction if transaction.isdigit() else "-"
    line = f"{RECORD} {time.time():.3f} {session} {transaction} {verdict} {host} {port}\n"
    # Written before Squid hears the answer, so the record is out before the client knows.
    sys.stderr.write(line)
    sys.stderr.flush()


def target(host: str, port: int) -> str:
    """What a refusal page names (errors/ERR_TURNBOX_*, as %o): the port only when it is not
    80 or 443, as the app's records word it (sandbox/egress/). Host characters only,
    which Squid's HTML quoting leaves alone."""
    return host if port in DEFAULT_PORTS else f"{host}:{port}"


def answer(line: str) -> str:
    words = [unquote(word) for word in line.split()]
    if len(words) < 5:
        return "ERR"
    address, raw_host, port_text, transaction, check = words[:5]
    host, port = clean_host(raw_host), int(port_text) if port_text.isdigit() else 0
    policy = load_policy(address)
    if check == "private":
        record(policy, transaction, "private", host, port)
        return f'OK message="{target(host, port)}"'
    if policy is not None and valid_host(raw_host) and policy_allows(policy, host, port):
        record(policy, transaction, "allowed", host, port)
        return "OK"
    record(policy, transaction, "blocked", host, port)
    return f'ERR message="{target(host, port)}"'


def sweep(now: float) -> None:
    path = os.path.join(STATE, "policies")
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        try:
            if now - os.stat(os.path.join(path, name)).st_mtime > MAX_AGE_SECONDS:
                os.unlink(os.path.join(path, name))
        except OSError:
            pass


def main() -> None:
    next_sweep = 0.0
    for line in sys.stdin:
        try:
            reply = answer(line)
        except Exception as error:  # never BH: a broken helper must not open the proxy
            print(f"turnbox-egress: {error!r}", file=sys.stderr)
            reply = "ERR"
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
        now = time.time()
        if now >= next_sweep:
            next_sweep = now + SWEEP_EVERY_SECONDS
            sweep(now)


if __name__ == "__main__":
    main()
