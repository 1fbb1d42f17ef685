"""cluster_bench's scenarios, acted out as browsers over websockets (portal/cluster.py runs
the processes): concurrent conversations spread over both web processes, a Stop sent
through the other web process, a worker killed mid-turn, Redis restarted mid-run.

Code in the sandbox prints a sequence number and the wall-clock time; the client checks
that every line arrives, once, in order, on its own socket only, and subtracts the time
(container and host share one clock). Whatever the clients saw is then compared with what
the database recorded (cluster_bench --report).
"""

import asyncio
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import websockets

TURN_SECONDS = 240
CONNECT_ATTEMPTS = 40


def printing(lines: int, every: float) -> str:
    return (
        "import time\n"
        f"for k in range({lines}):\n"
        "    print(k, repr(time.time()), flush=True)\n"
        f"    time.sleep({every})\n"
    )


@dataclass
class Seen:
    """What one socket received for one turn."""

    turn: str = ""
    status: str = ""
    message: str = ""
    sequence: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    foreign: int = 0
    finished_at: float = 0.0
    # A chunk of output may end inside a line: the rest comes with the next one.
    partial: str = ""

    def complete(self, lines: int) -> bool:
        return self.sequence == list(range(lines))


class Client:
    """One person's conversation, reached through one of the web processes."""

    def __init__(self, target: dict, port: int) -> None:
        self.path, self.cookie, self.port = target["path"], target["cookie"], port
        self.refused = 0

    @asynccontextmanager
    async def connect(self, port: int | None = None):
        """A socket, retried as the playground's page retries: a web process refuses
        connections for a moment after Redis comes back (counted in refused)."""
        url = f"ws://127.0.0.1:{port or self.port}{self.path}"
        origin = f"http://127.0.0.1:{port or self.port}"
        headers = {"Cookie": self.cookie}
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                ws = await websockets.connect(
                    url, additional_headers=headers, origin=origin, open_timeout=30
                )
                break
            except (websockets.InvalidStatus, OSError):
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                self.refused += 1
                await asyncio.sleep(0.5)
        try:
            yield ws
        finally:
            await ws.close()


async def send_code(ws, code: str) -> None:
    await ws.send(json.dumps({"type": "send", "text": f"```python\n{code}```"}))


async def follow(ws, seen: Seen, *, first_line: asyncio.Event | None = None) -> Seen:
    """Reads one turn's events until its turn_finished (or the socket closes)."""
    deadline = time.monotonic() + TURN_SECONDS
    try:
        while True:
            raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
            arrived = time.time()
            event = json.loads(raw)
            _take(event, seen, arrived)
            if first_line is not None and seen.sequence:
                first_line.set()
            if event["type"] == "turn_finished" and event.get("turn") == seen.turn:
                seen.status, seen.message = event["status"], event.get("message", "")
                seen.finished_at = time.monotonic()
                return seen
    except (TimeoutError, websockets.ConnectionClosed) as error:
        seen.status = seen.status or f"no turn_finished ({type(error).__name__}: {error})"
        return seen


def _take(event: dict, seen: Seen, arrived: float) -> None:
    turn = event.get("turn")
    if turn is None:
        return
    if not seen.turn and event["type"] == "turn_started":
        seen.turn = turn
    if turn != seen.turn:
        seen.foreign += 1
        return
    if event["type"] == "stdout":
        *lines, seen.partial = (seen.partial + event["text"]).split("\n")
        for line in lines:
            number, _, stamp = line.partition(" ")
            seen.sequence.append(int(number))
            seen.latencies.append((arrived - float(stamp)) * 1000)


async def one_turn(client: Client, code: str) -> Seen:
    async with client.connect() as ws:
        await send_code(ws, code)
        return await follow(ws, Seen())


async def load(clients: list[Client], *, lines: int, every: float) -> tuple[list[Seen], float]:
    """Every client runs one turn at the same time; returns what each saw and the time."""
    started = time.monotonic()
    seen = await asyncio.gather(*(one_turn(c, printing(lines, every)) for c in clients))
    return list(seen), time.monotonic() - started


async def stop_elsewhere(client: Client, other_port: int) -> dict:
    """A long turn followed on one web process, stopped through a socket on the other."""
    first = asyncio.Event()
    async with client.connect() as ws:
        await send_code(ws, printing(600, 0.1))
        following = asyncio.create_task(follow(ws, Seen(), first_line=first))
        await asyncio.wait_for(first.wait(), TURN_SECONDS)
        async with client.connect(other_port) as other:
            stopped = time.monotonic()
            await other.send(json.dumps({"type": "stop"}))
            seen = await following
    return {
        "status": seen.status,
        "turn": seen.turn,
        "stop_to_finished_ms": round((seen.finished_at - stopped) * 1000, 1),
        "passed": seen.status == "cancelled",
    }


async def kill_worker_mid_turn(
    clients: list[Client], kill, *, bound_seconds: float
) -> tuple[list[Seen], float]:
    """Every client starts a turn that runs 12 s; once all print, ``kill`` runs. Turns of
    the killed worker must end (any status) within bound_seconds; the others answer."""
    lines, every = 24, 0.5
    events = [asyncio.Event() for _ in clients]
    # Held here: a turn still waiting when the bound passes keeps what it saw, its id too.
    seen = [Seen() for _ in clients]

    async def run(client: Client, first: asyncio.Event, into: Seen) -> Seen:
        async with client.connect() as ws:
            await send_code(ws, printing(lines, every))
            return await follow(ws, into, first_line=first)

    tasks = [
        asyncio.create_task(run(c, e, s)) for c, e, s in zip(clients, events, seen, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), TURN_SECONDS)
    killed_at = time.monotonic()
    kill()
    _, pending = await asyncio.wait(tasks, timeout=bound_seconds + lines * every)
    for task, what in zip(tasks, seen, strict=True):
        if task in pending:
            what.status = "still waiting"
            task.cancel()
    return seen, killed_at


REDIS_LINES, REDIS_EVERY = 32, 0.25


async def redis_restart_mid_run(clients: list[Client], restart) -> list[Seen]:
    """Turns that print for 8 s while Redis goes away and comes back: they must answer,
    on sockets that stay open (their page re-syncs, which the client ignores)."""
    events = [asyncio.Event() for _ in clients]

    async def run(client: Client, first: asyncio.Event) -> Seen:
        async with client.connect() as ws:
            await send_code(ws, printing(REDIS_LINES, REDIS_EVERY))
            return await follow(ws, Seen(), first_line=first)

    tasks = [asyncio.create_task(run(c, e)) for c, e in zip(clients, events, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), TURN_SECONDS)
    await asyncio.to_thread(restart)
    return list(await asyncio.gather(*tasks))
