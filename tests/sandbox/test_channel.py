"""The host end of the bridge, fed Docker's multiplexed frames over a real socket pair."""

import json
import socket

from sandbox.channel import HEADER, BridgeChannel


def frames(data: bytes, size: int, stream: int = 1) -> bytes:
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(HEADER.pack(stream, len(chunk)) + chunk for chunk in chunks)


def line(event: dict) -> bytes:
    return json.dumps(event).encode() + b"\n"


def test_events_split_across_small_frames_arrive_whole_and_in_order():
    host, bridge = socket.socketpair()
    channel = BridgeChannel(host)
    try:
        events = channel.listen("r1")
        big = "x" * (6 << 20)
        stream = line({"type": "ready"}) + line({"id": "r1", "type": "stdout", "text": big})
        stream += line({"id": "r1", "type": "stdout", "text": "a"})
        stream += line({"id": "r1", "type": "status", "status": "ok"})
        # gVisor's frames are as small as 4 KiB; stderr frames come in between.
        bridge.sendall(frames(stream, 4096) + frames(b"diagnostics", 5, stream=2))
        channel.wait_ready(5)
        got = [events.get(timeout=5) for _ in range(3)]
    finally:
        bridge.close()
        channel.close()
    assert [event["type"] for event in got] == ["stdout", "stdout", "status"]
    assert got[0]["text"] == big and got[1]["text"] == "a"


def test_a_line_that_is_not_json_is_dropped_and_the_next_one_kept():
    host, bridge = socket.socketpair()
    channel = BridgeChannel(host)
    try:
        events = channel.listen("r1")
        stream = b"not json\n" + line({"id": "r1", "type": "status", "status": "ok"})
        bridge.sendall(frames(stream, 3))
        got = events.get(timeout=5)
    finally:
        bridge.close()
        channel.close()
    assert got == {"id": "r1", "type": "status", "status": "ok"}
