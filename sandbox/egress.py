"""The egress proxy on the Docker engine, and each network-enabled sandbox's link to it.

One proxy container serves the engine (TURNBOX_EGRESS_PROXY): Squid, with the files of
platform/egress/. A sandbox that may reach the network gets an internal Docker network
of its own (no route out, no host address on it), which only it and the proxy join; its
proxy variables point at the proxy's address on that network. That address names the
session to the proxy: the app writes the session's policy under it into the proxy's
state volume (the Docker archive API, so a remote engine works too), and the proxy's
helper reads it for every request. The helper writes each decision as a line on the
proxy's stderr before Squid answers; each app process keeps one attach stream to it
(RecordFeed) and hands every session the lines of its own. Squid's configuration never
changes at run time.
"""

import contextlib
import io
import ipaddress
import json
import logging
import os
import random
import select
import socket
import ssl
import tarfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import docker
from django.conf import settings
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool, LogConfig, Mount

from sandbox import egress_image
from sandbox.image import image_exists
from sandbox.network import DEFAULT_PORTS, NetworkPolicy

logger = logging.getLogger(__name__)

PORT = 3128
STATE = "/run/turnbox-egress"
# Debian's proxy user, which Squid and its helper run as.
PROXY_UID = 13
LABEL = "turnbox.egress"
# containers.LABEL (not imported: that module imports this one).
SANDBOX_LABEL = "turnbox.sandbox"
# A sandbox's network: the gateway address (never configured), the proxy, the sandbox.
SUBNET_PREFIX = 29
SUBNET_ATTEMPTS = 32
# No address of the host on a sandbox's network: only the proxy answers there.
NETWORK_OPTIONS = {"com.docker.network.bridge.inhibit_ipv4": "true"}
READY_SECONDS = 30
READY_LINE = "Accepting HTTP Socket connections"
# The helper refuses a policy past this, and removes it a while later.
POLICY_LIFETIME_SECONDS = 24 * 3600
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SANDBOX_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# pip cannot write to the image's read-only Python: packages go to /tmp, first on the path.
PACKAGES_DIR = "/tmp/python-packages"  # noqa: S108 (a path inside the sandbox)
LOCAL = "localhost,127.0.0.1,::1"
# The sandbox's resolver: not loopback, and unreachable from its network. Names are the
# proxy's to resolve; an engine older than 26.0 would otherwise forward the sandbox's
# lookups through its embedded resolver from the host (CVE-2024-29018).
SANDBOX_DNS = ["192.0.2.1"]
VERDICTS = ("allowed", "blocked", "private")
RECORD = b"turnbox-egress-record "
# Frames of Docker's attach stream: stream, 0, 0, 0, size (big-endian).
FRAME_HEADER = 8
READ_BYTES = 256 * 1024
# A session's lines kept between two takes; past it, only how many, per verdict.
MAX_LINES_PER_SESSION = 5000
# Hosts and ports recorded (and events made) per verdict and take, that is per execution;
# the rest are summed into one Attempt per verdict, whose host is OTHERS. Per verdict, so
# that many allowed requests never push a refusal out of the record.
MAX_ATTEMPTS = 50
OTHERS = "(others)"
# The helper's line reaches us through the proxy's attach stream, the execution's status
# through the sandbox's: before a session takes its lines, the feed waits until its
# stream has been quiet this long (at most SETTLE_MAX_SECONDS), so that a refusal is not
# left for the next execution.
SETTLE_QUIET_SECONDS = 0.005
SETTLE_MAX_SECONDS = 0.05


class EgressUnavailable(RuntimeError):
    """The proxy cannot serve a sandbox; the message says why and what to do."""


class ProxyGone(EgressUnavailable):
    """The proxy a sandbox was linked to has been replaced since."""


@dataclass(frozen=True)
class Proxy:
    id: str
    name: str


@dataclass
class Link:
    """A sandbox's own network, and the proxy's address on it, which names the session."""

    network: str
    proxy_id: str
    proxy_address: str

    @property
    def key(self) -> str:
        return self.proxy_address.replace(":", "_")


@dataclass
class Attempt:
    """Requests of one session to one host and port, with the proxy's verdict."""

    host: str
    port: int
    verdict: str
    count: int = 1
    first_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def blocked(self) -> bool:
        return self.verdict != "allowed"

    @property
    def target(self) -> str:
        return self.host if self.port in DEFAULT_PORTS else f"{self.host}:{self.port}"

    @property
    def message(self) -> str:
        if self.host == OTHERS:
            return self._others_message()
        if self.verdict == "private":
            return (
                f"network access to {self.target} is blocked: private and internal addresses "
                "are never reachable from sandboxes"
            )
        if self.verdict == "blocked":
            return f"network access to {self.target} is blocked by this workspace's policy"
        return f"network access to {self.target} was allowed"

    def _others_message(self) -> str:
        requests = f"{self.count:,} more network request{'s' if self.count != 1 else ''}"
        if self.verdict == "private":
            return f"{requests} to private and internal addresses were blocked"
        if self.verdict == "blocked":
            return f"{requests} to other hosts and ports were blocked by this workspace's policy"
        return f"{requests} to other hosts and ports were allowed"

    def event(self) -> dict:
        return {
            "type": "network_blocked",
            "host": self.host,
            "port": self.port,
            "reason": "private" if self.verdict == "private" else "policy",
            "count": self.count,
            "message": self.message,
        }


# --- the proxy -------------------------------------------------------------------------


def proxy_name() -> str:
    return settings.TURNBOX_EGRESS_PROXY


def ensure_proxy(
    *,
    client: docker.DockerClient,
    replace: bool = False,
    extra_hosts: dict[str, str] | None = None,
) -> Proxy:
    """Starts the proxy unless it runs already, from the current image; with replace,
    starts a new one (sandboxes linked to the old one lose the network). extra_hosts
    goes to its hosts file, which Squid reads before asking DNS (tests)."""
    name, tag = proxy_name(), egress_image.image_tag()
    details = _inspect(client, name)
    current = details is not None and details["Config"]["Image"] == tag
    if current and not replace and not details["State"].get("Restarting"):
        if not details["State"]["Running"]:
            _start_again(client, name)
        return Proxy(id=details["Id"], name=name)
    if details is not None:
        client.api.remove_container(name, force=True)
    if not image_exists(client, tag):
        raise EgressUnavailable(
            f"The egress proxy's image {tag} is missing: run `python manage.py egress_proxy`."
        )
    _ensure_outbound_network(client, f"{name}-out")
    return _start_proxy(client, name, tag, extra_hosts or {})


def running_proxy(client: docker.DockerClient) -> Proxy:
    """The proxy for a new sandbox: the running one, else started (never replaced)."""
    details = _inspect(client, proxy_name())
    if details is None or details["State"].get("Restarting"):
        # A proxy that keeps failing (its image changed under it, a broken start) is
        # replaced: its sandboxes have no working network anyway.
        return ensure_proxy(client=client, replace=details is not None)
    if not details["State"]["Running"]:
        _start_again(client, details["Id"])
    return Proxy(id=details["Id"], name=proxy_name())


def _start_again(client: docker.DockerClient, container: str) -> None:
    started = time.time()
    client.api.start(container)
    _wait_ready(client, container, since=started - 1)


def remove_proxy(*, client: docker.DockerClient) -> None:
    """Removes the proxy container and its outbound network (tests, `egress_proxy --stop`)."""
    name = proxy_name()
    for remove in (
        lambda: client.api.remove_container(name, force=True),
        lambda: client.api.remove_network(f"{name}-out"),
        lambda: client.api.remove_volume(f"{name}-state", force=True),
    ):
        with contextlib.suppress(NotFound):
            remove()


def _inspect(client: docker.DockerClient, name: str) -> dict | None:
    try:
        return client.api.inspect_container(name)
    except NotFound:
        return None


def _ensure_outbound_network(client: docker.DockerClient, name: str) -> None:
    if client.api.networks(names=[name]):
        return
    try:
        client.api.create_network(name, driver="bridge", labels={LABEL: "1"}, check_duplicate=True)
    except APIError as error:
        if error.status_code != 409:  # made by another process just now
            raise


def _start_proxy(client: docker.DockerClient, name: str, tag: str, hosts: dict) -> Proxy:
    state = f"{name}-state"
    try:
        client.api.create_volume(
            state,
            driver="local",
            driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=64m,mode=0755"},
            labels={LABEL: "1"},
        )
        container = client.containers.create(tag, **_proxy_options(name, state, hosts))
    except APIError as error:
        if error.status_code != 409:
            raise
        return running_proxy(client)  # another process created it first
    started = time.time()
    container.start()
    _wait_ready(client, container.id, since=started - 1)
    return Proxy(id=container.id, name=name)


def _proxy_options(name: str, state: str, hosts: dict) -> dict:
    # Paths inside the proxy container.
    tmpfs = ("/run/squid", "/tmp", "/var/spool/squid", "/var/log/squid", "/var/cache/squid")  # noqa: S108
    return dict(
        name=name,
        hostname="turnbox-egress",
        labels={LABEL: "1"},
        runtime="runc",
        detach=True,
        network=f"{name}-out",
        read_only=True,
        tmpfs={path: "size=16m" for path in tmpfs},
        mounts=[Mount(STATE, state, type="volume")],
        # NET_ADMIN for the firewall of its own network namespace; SETUID, SETGID and
        # CHOWN to hand over to the proxy user, who keeps none of them.
        cap_drop=["ALL"],
        cap_add=["NET_ADMIN", "SETUID", "SETGID", "CHOWN"],
        security_opt=["no-new-privileges"],
        mem_limit="512m",
        pids_limit=256,
        restart_policy={"Name": "unless-stopped"},
        extra_hosts=hosts,
        environment={
            "TURNBOX_EGRESS_REFUSE": ",".join(refused_networks()),
            "TURNBOX_EGRESS_FIREWALL": "on" if settings.TURNBOX_EGRESS_FIREWALL else "off",
        },
        log_config=LogConfig(
            type=LogConfig.types.JSON, config={"max-size": "10m", "max-file": "2"}
        ),
    )


def refused_networks() -> list[str]:
    """What the proxy refuses besides platform/egress/refused-networks: the operator's
    TURNBOX_EGRESS_REFUSE, the sandboxes' own networks (one sandbox must not reach another
    through the proxy, whatever range they are given) and the engine host's addresses:
    with a local engine this host's own, with a remote one those its name in DOCKER_HOST
    resolves to (its other addresses: TURNBOX_EGRESS_REFUSE)."""
    networks = [*settings.TURNBOX_EGRESS_REFUSE, settings.TURNBOX_EGRESS_SUBNETS]
    if not engine_is_local():
        networks += [f"{address}/{address.max_prefixlen}" for address in engine_addresses()]
    else:
        # Those the list refuses already (loopback, the bridges, link-local) come and go
        # with containers: left out, so that what is added stays put.
        built_in = [ipaddress.ip_network(n) for n in _listed_networks()]
        networks += [
            f"{address}/{address.max_prefixlen}"
            for address in host_addresses()
            if not any(address in network for network in built_in)
        ]
    return list(dict.fromkeys(networks))


def _listed_networks() -> list[str]:
    text = (egress_image.SOURCE_DIR / "refused-networks").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def engine_is_local() -> bool:
    return (os.environ.get("DOCKER_HOST") or "unix://").startswith("unix://")


def engine_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of the remote engine's host, as DOCKER_HOST names it."""
    url = os.environ.get("DOCKER_HOST", "")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise EgressUnavailable(f"DOCKER_HOST={url!r} names no engine host the proxy could refuse.")
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise EgressUnavailable(
            f"The Docker engine's host {host} (DOCKER_HOST) could not be resolved ({error}), "
            "so the egress proxy cannot refuse its addresses."
        ) from error
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in found}
    return sorted(addresses, key=lambda address: (address.version, address))


def host_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """This network namespace's own addresses, from the kernel's tables (Linux)."""
    found = []
    with contextlib.suppress(OSError), open("/proc/net/fib_trie") as table:
        last = ""
        for line in table:
            if "/32 host LOCAL" in line:
                found.append(ipaddress.ip_address(last))
            elif "|--" in line:
                last = line.split("|--")[1].strip()
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            digits = line.split()[0]
            found.append(ipaddress.IPv6Address(int(digits, 16)))
    return sorted(set(found), key=lambda address: (address.version, address))


def _wait_ready(client: docker.DockerClient, container: str, *, since: float) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        details = client.api.inspect_container(container)
        logs = client.api.logs(container, stdout=False, stderr=True, since=int(since))
        if READY_LINE.encode() in logs:
            return
        if not details["State"]["Running"] and details["State"]["Status"] != "created":
            tail = logs.decode(errors="replace").strip().splitlines()[-5:]
            raise EgressUnavailable("The egress proxy stopped: " + " ".join(tail))
        time.sleep(0.1)
    raise EgressUnavailable(f"The egress proxy did not start within {READY_SECONDS} s.")


# --- a sandbox's link ---------------------------------------------------------------------


def create_link(*, client: docker.DockerClient, name: str, labels: dict) -> Link:
    """The sandbox's own network, named like it, with the proxy on it. Its policy comes
    when a session takes the sandbox (assign)."""
    proxy = running_proxy(client)
    subnet = _create_network(client, name, labels)
    address = str(subnet[2])
    try:
        client.api.connect_container_to_network(proxy.id, name, ipv4_address=address)
    except BaseException:
        remove_link(client=client, name=name)
        raise
    # A policy left by an earlier network of this subnet is overwritten by assign(), before
    # any code runs here.
    return Link(network=name, proxy_id=proxy.id, proxy_address=address)


def _create_network(client: docker.DockerClient, name: str, labels: dict):
    pool = ipaddress.ip_network(settings.TURNBOX_EGRESS_SUBNETS)
    count = 2 ** (SUBNET_PREFIX - pool.prefixlen)
    size = 2 ** (32 - SUBNET_PREFIX)
    for _ in range(SUBNET_ATTEMPTS):
        # Random, not sequential: processes that share the engine rarely pick alike.
        first = int(pool.network_address) + random.randrange(count) * size  # noqa: S311
        subnet = ipaddress.ip_network((first, SUBNET_PREFIX))
        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=str(subnet[1]))])
        try:
            client.api.create_network(
                name, driver="bridge", internal=True, labels=labels, ipam=ipam,
                options=NETWORK_OPTIONS, check_duplicate=True,
            )  # fmt: skip
        except APIError as error:
            if "overlap" in str(error).lower():
                continue
            raise
        return subnet
    raise EgressUnavailable(
        f"No free subnet for the sandbox's network in {pool} (TURNBOX_EGRESS_SUBNETS)."
    )


def container_options(link: Link, *, packages_mb: int) -> dict:
    """What a network-enabled sandbox adds to its container: the network, the usual proxy
    variables (pip, requests, urllib, curl and wget read them), a place pip can write."""
    url = f"http://{link.proxy_address}:{PORT}"
    environment = {name: url for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    environment |= {"NO_PROXY": LOCAL, "no_proxy": LOCAL}
    environment |= {
        name: SANDBOX_CA_BUNDLE
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")
    }
    environment |= {
        "PIP_TARGET": PACKAGES_DIR,
        "PYTHONPATH": PACKAGES_DIR,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    mounts = []
    if bundle := ca_bundle():
        mounts.append(Mount(SANDBOX_CA_BUNDLE, bundle, type="bind", read_only=True))
    # A folder of its own, there before Python starts: a folder on the path that did not
    # exist at start-up is never looked at again by the running kernel.
    packages = f"size={packages_mb}m,uid=1000,gid=1000,mode=0755"
    return {
        "network_mode": link.network,
        "environment": environment,
        "mounts": mounts,
        "tmpfs": {PACKAGES_DIR: packages},
        # The sandbox resolves no names itself (the proxy does): a lookup fails in a second.
        "dns": SANDBOX_DNS,
        "dns_opt": ["timeout:1", "attempts:1"],
    }


def ca_bundle() -> str | None:
    """The certificate bundle sandboxes trust, from the engine's host: by default ("auto")
    the host's own bundle when the engine is local, so that sandboxes trust what the host
    trusts (a TLS-inspecting company proxy's certificate included)."""
    value = settings.TURNBOX_EGRESS_CA_BUNDLE.strip()
    if value in ("", "none"):
        return None
    if value != "auto":
        return value
    local = engine_is_local()
    return HOST_CA_BUNDLE if local and os.path.isfile(HOST_CA_BUNDLE) else None


def assign(
    *, client: docker.DockerClient, link: Link, policy: NetworkPolicy, session_id: str
) -> None:
    """Gives the sandbox's network its session's policy; takes effect with the next request."""
    payload = policy.as_json() | {
        "session": session_id,
        "expires": time.time() + POLICY_LIFETIME_SECONDS,
    }
    data = json.dumps(payload).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(f"policies/{link.key}")
        info.size, info.mode, info.mtime = len(data), 0o640, int(time.time())
        info.uid = info.gid = PROXY_UID
        tar.addfile(info, io.BytesIO(data))
    try:
        client.api.put_archive(link.proxy_id, STATE, archive.getvalue())
    except NotFound as error:
        raise ProxyGone("The egress proxy was replaced; the sandbox must start again.") from error


# --- the proxy's decisions ---------------------------------------------------------------


@dataclass
class Taken:
    """A session's lines since its last take, and how many more came past the cap."""

    lines: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # per verdict
    # Transactions of the allowed lines kept: their "private" line is kept too, past the
    # cap, since it turns that request into a refusal rather than adding one.
    allowed: set[str] = field(default_factory=set, repr=False, compare=False)


class RecordFeed:
    """One process's attach stream to the proxy's stderr, where the helper writes a line
    per decision. Lines of the sessions registered here are kept for them (at most
    MAX_LINES_PER_SESSION between two takes, then only counted, but for the "private"
    line of a request whose "allowed" line was kept); the rest (other
    processes' sessions, Squid's own log) is dropped."""

    def __init__(self, *, client: docker.DockerClient, proxy_id: str):
        self.proxy_id = proxy_id
        params = {"stderr": 1, "stream": 1, "logs": 0}
        raw = client.api.attach_socket(proxy_id, params=params)
        self._raw = raw
        self._sock = getattr(raw, "_sock", raw)
        self._sock.setblocking(False)
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._lines = bytearray()
        self._sessions: dict[str, Taken] = {}
        # When the stream last brought anything (time.monotonic()).
        self._last_data = 0.0
        self.closed = False
        threading.Thread(target=self._loop, name="egress-records", daemon=True).start()

    def register(self, session_id: str) -> None:
        with self._lock:
            self._sessions.setdefault(session_id, Taken())

    def take(self, session_id: str, *, forget: bool = False) -> Taken:
        """The session's lines since the last take, once those already sent have arrived."""
        self._settle()
        with self._lock:
            taken = self._sessions.pop(session_id, Taken())
            if not forget:
                self._sessions[session_id] = Taken()
        return taken

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def sessions(self) -> set[str]:
        with self._lock:
            return set(self._sessions)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self._raw.close()

    def _loop(self) -> None:
        while not self.closed:
            try:
                select.select([self._sock], [], [], 1.0)
                with self._lock:
                    self._read_available()
            except (OSError, ValueError):
                break
        self.closed = True

    def _drain(self) -> None:
        with self._lock:
            if not self.closed:
                self._read_available()

    def _settle(self) -> None:
        # The helper writes a decision before Squid answers the client, so the line was
        # sent before the code saw the answer; but it travels through another stream
        # than the execution's status, and may still be on its way. Lines arrive in the
        # order they were written: once the stream has been quiet for a moment, whatever
        # was written before our status came is here.
        started = time.monotonic()
        deadline = started + SETTLE_MAX_SECONDS
        while not self.closed:
            self._drain()
            now = time.monotonic()
            quiet = now - max(self._last_data, started)
            if quiet >= SETTLE_QUIET_SECONDS or now >= deadline:
                return
            wait = min(SETTLE_QUIET_SECONDS - quiet, deadline - now)
            with contextlib.suppress(OSError, ValueError):
                select.select([self._sock], [], [], wait)

    def _read_available(self) -> None:
        while True:
            try:
                chunk = self._sock.recv(READ_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError):
                return
            if not chunk:
                self.closed = True
                return
            self._last_data = time.monotonic()
            self._buffer += chunk
            self._take_frames()

    def _take_frames(self) -> None:
        while len(self._buffer) >= FRAME_HEADER:
            size = int.from_bytes(self._buffer[4:FRAME_HEADER], "big")
            if len(self._buffer) < FRAME_HEADER + size:
                return
            self._lines += self._buffer[FRAME_HEADER : FRAME_HEADER + size]
            del self._buffer[: FRAME_HEADER + size]
        while (end := self._lines.find(b"\n")) >= 0:
            line = bytes(self._lines[:end])
            del self._lines[: end + 1]
            self._keep(line)
        del self._lines[:-READ_BYTES]  # a line that long is no record

    def _keep(self, line: bytes) -> None:
        if not line.startswith(RECORD):
            return
        words = line.decode("utf-8", "replace").split()
        if len(words) != 7 or (kept := self._sessions.get(words[2])) is None:
            return
        transaction, verdict = words[3], words[4]
        if len(kept.lines) < MAX_LINES_PER_SESSION or (
            verdict == "private" and transaction in kept.allowed
        ):
            kept.lines.append(" ".join(words[1:2] + words[3:]))
            if verdict == "allowed" and transaction != "-":
                kept.allowed.add(transaction)
        elif verdict in VERDICTS:
            if verdict == "private" and kept.dropped.get("allowed", 0) > 0:
                # Its "allowed" line, written just before, was only counted too: the one
                # request was refused, not two made.
                kept.dropped["allowed"] -= 1
            kept.dropped[verdict] = kept.dropped.get(verdict, 0) + 1


_feeds: dict[str, RecordFeed] = {}
_feeds_lock = threading.Lock()


def record_feed(*, client: docker.DockerClient, proxy_id: str) -> RecordFeed:
    """This process's feed of the proxy's decisions, opened on first use."""
    with _feeds_lock:
        feed = _feeds.get(proxy_id)
        if feed is None or feed.closed:
            try:
                feed = _feeds[proxy_id] = RecordFeed(client=client, proxy_id=proxy_id)
            except NotFound as error:
                raise ProxyGone("The egress proxy was replaced.") from error
        return feed


def watch(*, client: docker.DockerClient, link: Link, session_id: str) -> None:
    """Starts keeping the proxy's decisions about this session (before it has a policy)."""
    record_feed(client=client, proxy_id=link.proxy_id).register(session_id)


def collect(
    *, client: docker.DockerClient, link: Link, session_id: str, last: bool = False
) -> list[Attempt]:
    """The proxy's decisions about the session since the last call, summed up; with last,
    the feed forgets the session afterwards."""
    try:
        feed = record_feed(client=client, proxy_id=link.proxy_id)
    except EgressUnavailable:
        return []  # the proxy is gone, and what it knew with it
    taken = feed.take(session_id, forget=last)
    return summarise(taken.lines, dropped=taken.dropped)


def forget(*, proxy_ids: set[str], session_id: str) -> None:
    """Drops what this process's feeds keep for the session (its close), opening none."""
    with _feeds_lock:
        feeds = [_feeds[proxy_id] for proxy_id in proxy_ids if proxy_id in _feeds]
    for feed in feeds:
        feed.forget(session_id)


def summarise(lines: list[str], *, dropped: dict[str, int] | None = None) -> list[Attempt]:
    """One Attempt per host, port and verdict, for the first MAX_ATTEMPTS hosts and ports
    of each verdict; the others (and the lines the feed only counted, ``dropped``) are
    summed into one Attempt per verdict whose host is OTHERS and port 0. A request the
    policy allowed and Squid then refused for its address has two lines with one
    transaction number: it counts once, as refused."""
    requests: dict[str, tuple[float, str, str, int]] = {}
    for number, line in enumerate(lines):
        parsed = _parse(line)
        if parsed is None:
            continue
        at, transaction, verdict, host, port = parsed
        key = transaction if transaction != "-" else f"line {number}"
        if requests.get(key, (0, "", "", 0))[1] != "private":
            requests[key] = (at, verdict, host, port)
    attempts: dict[tuple, Attempt] = {}
    listed = dict.fromkeys(VERDICTS, 0)
    for at, verdict, host, port in sorted(requests.values()):
        key = (host, port, verdict)
        if key not in attempts:
            if listed[verdict] >= MAX_ATTEMPTS:
                key = (OTHERS, 0, verdict)
            else:
                listed[verdict] += 1
        _add(attempts, key, datetime.fromtimestamp(at, UTC))
    now = datetime.now(UTC)
    for verdict, count in (dropped or {}).items():
        if count <= 0:
            continue
        _add(attempts, (OTHERS, 0, verdict), now, count)
    return sorted(attempts.values(), key=lambda a: (a.host == OTHERS, a.first_at))


def _add(attempts: dict[tuple, Attempt], key: tuple, when: datetime, count: int = 1) -> None:
    attempt = attempts.get(key)
    if attempt is None:
        attempts[key] = Attempt(*key, count, when, when)
    else:
        attempt.count += count
        attempt.first_at = min(attempt.first_at, when)
        attempt.last_at = max(attempt.last_at, when)


def _parse(line: str) -> tuple[float, str, str, str, int] | None:
    """TIME TRANSACTION VERDICT HOST PORT (RecordFeed has taken the session's id out)."""
    words = line.split()
    if len(words) != 5 or words[2] not in VERDICTS or not words[4].isdigit():
        return None
    try:
        at = float(words[0])
    except ValueError:
        return None
    port = int(words[4])
    if not 0 <= port <= 65535:
        return None
    return at, words[1], words[2], words[3][:255], port


def remove_link(*, client: docker.DockerClient, name: str) -> None:
    """Removes a sandbox's network, the proxy's end of it first; quiet when it is gone."""
    try:
        details = client.api.inspect_network(name)
    except NotFound:
        return
    if SANDBOX_LABEL not in (details.get("Labels") or {}):
        return  # not a sandbox's network: somebody else's, whatever its name
    for container in details.get("Containers") or {}:
        with contextlib.suppress(NotFound):
            client.api.disconnect_container_from_network(container, name, force=True)
    with contextlib.suppress(NotFound):
        client.api.remove_network(name)
