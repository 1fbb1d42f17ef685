"""The feed of the proxy's decisions: one attach stream per process, each session's lines
kept for it, bounded, and handed over once the stream has settled."""

import socket
import threading
import time

import pytest

from sandbox.egress import attempts as egress_attempts
from sandbox.egress import feed as egress_feed


class FakeApi:
    def __init__(self, sock):
        self.sock = sock

    def attach_socket(self, container, params):
        return self.sock


class FakeClient:
    def __init__(self, sock):
        self.api = FakeApi(sock)


def frame(data: bytes, stream: int = 2) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_the_feed_keeps_the_lines_of_its_sessions_only():
    ours, theirs = socket.socketpair()
    feed = egress_feed.RecordFeed(client=FakeClient(ours), proxy_id="proxy")
    try:
        feed.register("s-1")
        record = b"turnbox-egress-record 1.5 s-1 7 blocked example.com 443\n"
        other = b"turnbox-egress-record 1.6 s-2 8 blocked example.org 443\n"
        squid = b"2026/11/26 10:00:00| some squid warning\n"
        # Frames split anywhere, lines across frames.
        stream = frame(squid + record[:20]) + frame(record[20:] + other)
        theirs.sendall(stream[:5])
        theirs.sendall(stream[5:])
        deadline = time.monotonic() + 5
        lines = []
        while not lines and time.monotonic() < deadline:
            lines = feed.take("s-1").lines
        assert lines == ["1.5 7 blocked example.com 443"]
        assert feed.take("s-1").lines == []
        assert feed.take("s-1", forget=True).lines == []
        assert "s-1" not in feed.sessions()
    finally:
        feed.close()
        theirs.close()


@pytest.fixture
def feed():
    ours, theirs = socket.socketpair()
    feed = egress_feed.RecordFeed(client=FakeClient(ours), proxy_id="proxy")
    feed.register("s-1")
    yield feed, theirs
    feed.close()
    theirs.close()


def record_line(number: int, verdict: str = "blocked", host: str = "example.com") -> bytes:
    return f"turnbox-egress-record 1.{number} s-1 {number} {verdict} {host} {number}\n".encode()


def test_the_feed_waits_for_a_line_still_on_its_way(feed, monkeypatch):
    """The helper's line and the execution's status come through different streams: a
    line a moment behind the status belongs to the execution all the same."""
    feed, theirs = feed
    # Longer than the real waits, so that a loaded machine cannot miss them.
    monkeypatch.setattr(egress_feed, "SETTLE_QUIET_SECONDS", 0.3)
    monkeypatch.setattr(egress_feed, "SETTLE_MAX_SECONDS", 1.0)
    late = threading.Timer(0.05, lambda: theirs.sendall(frame(record_line(1))))
    late.start()
    taken = feed.take("s-1")
    late.join()
    assert taken.lines == ["1.1 1 blocked example.com 1"]


def test_the_feed_keeps_a_bounded_number_of_lines_per_session_and_counts_the_rest(feed):
    feed, theirs = feed
    lines = [record_line(n, "private" if n % 4 == 0 else "blocked") for n in range(1, 20_001)]
    theirs.sendall(b"".join(frame(line) for line in lines))
    wait_for_lines(feed, 20_000)
    taken = feed.take("s-1")
    assert len(taken.lines) == egress_feed.MAX_LINES_PER_SESSION
    assert taken.lines[-1].startswith(f"1.{egress_feed.MAX_LINES_PER_SESSION} ")
    # 5,001 to 20,000: every fourth was refused for its address.
    assert taken.dropped == {"blocked": 11_250, "private": 3_750}
    assert feed.take("s-1") == egress_feed.Taken()


def wait_for_lines(feed, count: int) -> None:
    deadline = time.monotonic() + 10
    while (kept := feed._sessions["s-1"]) and len(kept.lines) + sum(kept.dropped.values()) < count:
        assert time.monotonic() < deadline, "the feed did not read the lines"
        time.sleep(0.01)


def test_past_its_cap_the_feed_counts_a_request_refused_for_its_address_once(feed):
    """Allowed by the policy, then refused for its address: two lines, one request."""
    feed, theirs = feed
    filler = egress_feed.MAX_LINES_PER_SESSION - 1
    lines = [record_line(n) for n in range(1, filler + 1)]
    # The first one's "allowed" line is the last one kept, the second's comes past the cap.
    for number in (filler + 1, filler + 2):
        lines += [
            record_line(number, "allowed", "a.example"),
            record_line(number, "private", "a.example"),
        ]
    theirs.sendall(b"".join(frame(line) for line in lines))
    wait_for_lines(feed, len(lines) - 1)
    taken = feed.take("s-1")
    attempts = egress_attempts.summarise(taken.lines, dropped=taken.dropped)
    counts = {}
    for attempt in attempts:
        counts[attempt.verdict] = counts.get(attempt.verdict, 0) + attempt.count
    assert counts == {"blocked": filler, "private": 2}


def test_a_forgotten_session_leaves_nothing_in_the_feed(feed):
    feed, _theirs = feed
    egress_feed._feeds["proxy"] = feed
    try:
        egress_feed.forget(proxy_ids={"proxy", "gone"}, session_id="s-1")
    finally:
        del egress_feed._feeds["proxy"]
    assert feed.sessions() == set()
