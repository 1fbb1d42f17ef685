"""The proxy's decisions as they arrive: its helper writes a line per request on the
proxy's stderr before Squid answers; each app process keeps one attach stream to it
(RecordFeed) and hands every session the lines of its own."""

import contextlib
import select
import ssl
import threading
import time
from dataclasses import dataclass, field

import docker
from docker.errors import NotFound

from sandbox.egress.attempts import VERDICTS, Attempt, summarise
from sandbox.egress.errors import EgressUnavailable, ProxyGone
from sandbox.egress.links import Link

RECORD = b"turnbox-egress-record "
# Frames of Docker's attach stream: stream, 0, 0, 0, size (big-endian).
FRAME_HEADER = 8
READ_BYTES = 256 * 1024
# A session's lines kept between two takes; past it, only how many, per verdict.
MAX_LINES_PER_SESSION = 5000
# The helper's line reaches us through the proxy's attach stream, the execution's status
# through the sandbox's: before a session takes its lines, the feed waits until its
# stream has been quiet this long (at most SETTLE_MAX_SECONDS), so that a refusal is not
# left for the next execution.
SETTLE_QUIET_SECONDS = 0.005
SETTLE_MAX_SECONDS = 0.05


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
