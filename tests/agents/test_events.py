"""The publisher of a turn's events while the channel layer fails: retried for a bounded
time, then given up without slowing every later event down."""

import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from agents.events import GroupPublisher
from tests.conftest import run_in_new_loop


class FlakyLayer:
    """A channel layer whose first ``failures`` sends fail as a Redis that is down does."""

    def __init__(self, failures: int) -> None:
        self.failures, self.sent = failures, []

    async def group_send(self, group: str, message: dict) -> None:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        self.sent.append((group, message["event"]))


def publisher(layer: FlakyLayer, retry_seconds: float = 5.0) -> GroupPublisher:
    sender = GroupPublisher("c1", retry_seconds=retry_seconds)
    sender.layer = layer
    return sender


def test_it_delivers_an_event_once_the_layer_is_back_within_the_retry_time():
    layer = FlakyLayer(failures=3)

    run_in_new_loop(publisher(layer).send({"type": "stdout", "text": "1\n"}))

    assert layer.sent == [("conversation-c1", {"type": "stdout", "text": "1\n"})]


def test_it_gives_up_after_the_retry_time_and_then_tries_each_event_once():
    layer = FlakyLayer(failures=1000)
    sender = publisher(layer, retry_seconds=0.5)

    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        run_in_new_loop(sender.send({"type": "stdout", "text": "1\n"}))
    given_up_after = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        run_in_new_loop(sender.send({"type": "stdout", "text": "2\n"}))
    next_failed_after = time.monotonic() - started

    assert 0.2 <= given_up_after <= 1.5
    assert next_failed_after < 0.1
    layer.failures = 0
    run_in_new_loop(sender.send({"type": "stdout", "text": "3\n"}))
    assert [event["text"] for _, event in layer.sent] == ["3\n"]
    assert not sender.given_up


def test_an_error_that_is_not_the_layer_being_down_is_not_retried():
    class Broken:
        calls = 0

        async def group_send(self, group, message):
            self.calls += 1
            raise TypeError("can not serialize 'object' object")

    layer = Broken()
    sender = GroupPublisher("c1")
    sender.layer = layer

    with pytest.raises(TypeError):
        run_in_new_loop(sender.send({"type": "stdout", "text": object()}))
    assert layer.calls == 1
