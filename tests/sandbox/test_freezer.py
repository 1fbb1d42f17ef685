"""When the freezer asks the bridge to freeze and thaw, against a stand-in channel: only
after an idle moment, never once the next execution has begun, and a bridge that does
not confirm costs the sandbox."""

import queue
import threading
import time

import pytest

from sandbox import freezer
from sandbox.channel import CLOSED

WAIT = freezer.IDLE_SECONDS * 4


class Channel:
    """Answers a freeze as the bridge does, after ``delay`` seconds (or never)."""

    def __init__(self, delay: float | None = 0.0):
        self.closed = False
        self.sent: list[str] = []
        self.delay = delay
        self._listeners: dict[str, queue.SimpleQueue] = {}

    def send(self, request: dict) -> None:
        self.sent.append(request["op"])
        if request["op"] == "freeze" and self.delay is not None:
            events = self._listeners[request["id"]]
            answer = {"id": request["id"], "type": "frozen"}
            threading.Timer(self.delay, events.put, args=(answer,)).start()

    def listen(self, request_id: str) -> queue.SimpleQueue:
        self._listeners[request_id] = queue.SimpleQueue()
        return self._listeners[request_id]

    def unlisten(self, request_id: str) -> None:
        self._listeners.pop(request_id, None)

    def close(self) -> None:
        self.closed = True
        for events in self._listeners.values():
            events.put(CLOSED)


class Sandbox:
    name = "stand-in"

    def __init__(self, channel: Channel):
        self.channel = channel
        self.destroyed = False
        self.freezer = freezer.Freezer(self)

    def destroy(self) -> None:
        self.channel.close()
        self.freezer.stop()
        self.destroyed = True


def test_it_freezes_once_idle_and_thaws_before_the_next_request():
    sandbox = Sandbox(Channel())
    sandbox.freezer.freeze_soon()
    assert sandbox.channel.sent == []  # not yet: the moment has not passed
    time.sleep(WAIT)
    assert sandbox.freezer.frozen
    sandbox.freezer.thaw()
    assert sandbox.channel.sent == ["freeze", "thaw"] and not sandbox.freezer.frozen


def test_an_execution_within_the_idle_moment_calls_the_freeze_off():
    sandbox = Sandbox(Channel())
    sandbox.freezer.freeze_soon()
    sandbox.freezer.thaw()
    time.sleep(WAIT)
    assert sandbox.channel.sent == [] and not sandbox.freezer.frozen


def test_a_thaw_waits_for_a_freeze_under_way_and_follows_it():
    sandbox = Sandbox(Channel(delay=0.3))
    sandbox.freezer.freeze_soon()
    time.sleep(freezer.IDLE_SECONDS * 2)  # the freeze is sent, its answer not yet in
    started = time.monotonic()
    sandbox.freezer.thaw()
    assert time.monotonic() - started > 0.1
    assert sandbox.channel.sent == ["freeze", "thaw"] and not sandbox.freezer.frozen


def test_a_bridge_that_does_not_confirm_costs_the_sandbox(monkeypatch):
    monkeypatch.setattr(freezer, "FREEZE_SECONDS", 0.2)
    sandbox = Sandbox(Channel(delay=None))
    sandbox.freezer.freeze()
    assert sandbox.destroyed and not sandbox.freezer.frozen


@pytest.mark.parametrize("delay", [None, 5.0])
def test_removing_the_sandbox_stops_a_freeze_due_or_under_way(delay):
    sandbox = Sandbox(Channel(delay=delay))
    sandbox.freezer.freeze_soon()
    time.sleep(freezer.IDLE_SECONDS * 2)
    started = time.monotonic()
    sandbox.destroy()  # the session ends: no wait for the bridge's answer
    assert time.monotonic() - started < 1
    sandbox.freezer.freeze_soon()  # nothing more reaches a closed channel
    time.sleep(WAIT)
    assert sandbox.channel.sent == ["freeze"] and not sandbox.freezer.frozen


def test_no_freeze_while_held_and_the_one_wanted_comes_after():
    sandbox = Sandbox(Channel())
    sandbox.freezer.freeze_soon()
    with sandbox.freezer.held():
        time.sleep(WAIT)
        assert sandbox.channel.sent == []  # a docker exec would be running here
        sandbox.freezer.freeze_soon()  # wanted meanwhile: still not now
        time.sleep(WAIT)
        assert sandbox.channel.sent == []
    time.sleep(WAIT)
    assert sandbox.channel.sent == ["freeze"] and sandbox.freezer.frozen


def test_a_thaw_during_a_hold_calls_off_the_freeze_after_it():
    sandbox = Sandbox(Channel())
    sandbox.freezer.freeze_soon()
    with sandbox.freezer.held():
        sandbox.freezer.thaw()  # the next execution began
    time.sleep(WAIT)
    assert sandbox.channel.sent == [] and not sandbox.freezer.frozen


def test_a_hold_on_an_idle_sandbox_freezes_nothing_after_it():
    sandbox = Sandbox(Channel())
    with sandbox.freezer.held():
        pass
    time.sleep(WAIT)
    assert sandbox.channel.sent == []
