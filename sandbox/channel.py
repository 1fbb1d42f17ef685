"""The host end of the bridge: JSON lines over a container's attached stdio.

Docker multiplexes the attach stream: each frame has an 8-byte header (stream, 0, 0, 0,
size as big-endian uint32). Stream 1 is the bridge's stdout (events); stream 2 its
stderr (diagnostics, of which only a tail is kept). One reader thread per channel sends
each event to the queue of the request it names, so output reaches the caller while the
code still runs. Everything read is untrusted: lines are bounded and must be JSON
objects, anything else is dropped.
"""

import contextlib
import json
import logging
import queue
import struct
import threading

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">BxxxL")
# A single event larger than this (a huge image, say) ends the sandbox: it is hostile.
MAX_LINE_BYTES = 64 * 1024 * 1024
STDERR_TAIL_BYTES = 8192
READ_BYTES = 256 * 1024
CLOSED = {"type": "closed"}


class ChannelClosed(ConnectionError):
    """The bridge went away (its container stopped or was removed)."""


class BridgeChannel:
    def __init__(self, raw_socket):
        # docker-py hands back a SocketIO wrapper; the socket under it is what we read.
        self._sock = getattr(raw_socket, "_sock", raw_socket)
        self._raw = raw_socket
        self._send_lock = threading.Lock()
        self._listeners: dict[str, queue.SimpleQueue] = {}
        self._listeners_lock = threading.Lock()
        self._ready = threading.Event()
        self._restarted = threading.Condition()
        self._stderr = bytearray()
        self.closed = False
        self._ready_seen = False
        self.restarts = 0
        self._thread = threading.Thread(target=self._read_loop, name="sandbox-channel", daemon=True)
        self._thread.start()

    # -- requests ----------------------------------------------------------------------
    def send(self, request: dict) -> None:
        if self.closed:
            raise ChannelClosed("the sandbox has stopped")
        data = json.dumps(request, separators=(",", ":")).encode() + b"\n"
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except OSError as exc:
            self._mark_closed()
            raise ChannelClosed("the sandbox has stopped") from exc

    def listen(self, request_id: str) -> queue.SimpleQueue:
        events: queue.SimpleQueue = queue.SimpleQueue()
        with self._listeners_lock:
            self._listeners[request_id] = events
        if self.closed:
            events.put(CLOSED)
        return events

    def unlisten(self, request_id: str) -> None:
        with self._listeners_lock:
            self._listeners.pop(request_id, None)

    def wait_ready(self, timeout: float) -> None:
        if not self._ready.wait(timeout):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        if self.closed and not self._ready_seen:
            raise ChannelClosed("the sandbox stopped while starting")

    def wait_restarts(self, count: int, timeout: float) -> bool:
        """Waits until the kernel has been restarted ``count`` times in all."""
        with self._restarted:
            return self._restarted.wait_for(
                lambda: self.restarts >= count or self.closed, timeout=timeout
            )

    def stderr_tail(self) -> str:
        return bytes(self._stderr).decode("utf-8", "replace")

    def close(self) -> None:
        self._mark_closed()
        for closer in (lambda: self._sock.shutdown(2), self._sock.close, self._raw.close):
            with contextlib.suppress(OSError):
                closer()

    # -- reading -----------------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            self._read_frames()
        except (OSError, ValueError) as exc:
            if not self.closed:
                logger.info("Sandbox channel ended: %s", exc)
        finally:
            self._mark_closed()

    def _read_frames(self) -> None:
        buffer = bytearray()
        lines = bytearray()
        while True:
            chunk = self._sock.recv(READ_BYTES)
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= HEADER.size:
                stream, size = HEADER.unpack_from(buffer)
                if len(buffer) < HEADER.size + size:
                    break
                payload = bytes(buffer[HEADER.size : HEADER.size + size])
                del buffer[: HEADER.size + size]
                if stream == 1:
                    self._take_lines(lines, payload)
                else:
                    self._keep_stderr(payload)

    def _take_lines(self, lines: bytearray, payload: bytes) -> None:
        """Adds a frame to the line being read and dispatches the lines it ends. Only the
        new frame is searched for a newline: a long event arrives in many small frames
        (4 KiB under gVisor), and searching it all again for each was quadratic."""
        start = 0
        while (end := payload.find(b"\n", start)) >= 0:
            lines += payload[start:end]
            self._dispatch(bytes(lines))
            lines.clear()
            start = end + 1
        lines += payload[start:]
        if len(lines) > MAX_LINE_BYTES:
            raise ValueError("an event exceeded the size limit")

    def _keep_stderr(self, payload: bytes) -> None:
        self._stderr += payload
        del self._stderr[:-STDERR_TAIL_BYTES]

    def _dispatch(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return
        request_id = event.get("id")
        if request_id is None:
            self._control(event)
            return
        with self._listeners_lock:
            events = self._listeners.get(request_id) if isinstance(request_id, str) else None
        if events is not None:
            events.put(event)

    def _control(self, event: dict) -> None:
        if event["type"] == "ready":
            self._ready_seen = True
            self._ready.set()
        elif event["type"] == "kernel_restarted":
            with self._restarted:
                self.restarts += 1
                self._restarted.notify_all()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._ready.set()
        with self._restarted:
            self._restarted.notify_all()
        with self._listeners_lock:
            listeners = list(self._listeners.values())
        for events in listeners:
            events.put(CLOSED)
