"""Measures sandboxes on this machine: how fast they start and answer, how many fit at
once, and how closely time limits hold. The sandbox_bench command prints the report.

Every figure goes through the engine's public surface, the way the platform uses it;
sessions opened here are recorded with purpose "bench". Durations are in milliseconds.
"""

import queue
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from django.test.utils import override_settings

from sandbox import bench_floor, pool
from sandbox.containers import SandboxUnavailable, Spec, docker_client, start_sandbox
from sandbox.image import configured_image
from sandbox.session import Session, open_session, run_to_end

PURPOSE = "bench"
RUNTIMES = ("runc", "runsc")
WARM_UP_RUNS = 3
# Round trips are cheap: this many per run gives steadier percentiles.
ROUND_TRIPS_PER_RUN = 5
# Each loop lasts three seconds: a few runs are enough to see the first chunk's delay.
MAX_LOOP_RUNS = 3
LOOP = "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.1)"
TIME_LIMIT_SECONDS = 2
OVER_THE_LIMIT = {"busy_loop": "while True: pass", "sleep": "import time; time.sleep(100)"}
POOL_FILL_SECONDS = 120
BRIDGE_WAIT_SECONDS = 30
MIB = 1024 * 1024

Progress = Callable[[str], None]


class BenchError(RuntimeError):
    """A measured step did not behave (an execution failed): its figures would mislead."""


def run(*, runtime: str, runs: int, concurrency: int, progress: Progress | None = None) -> dict:
    """The report for one runtime, or for runc and runsc (when the engine has it) on "all"."""
    progress = progress or _quiet
    registered = set(docker_client().info().get("Runtimes") or {})
    report = {"machine": machine(), "runtimes": {}, "skipped": {}}
    for name in RUNTIMES if runtime == "all" else (runtime,):
        if name not in registered:
            if runtime != "all":
                raise SandboxUnavailable(f"The Docker engine has no {name} runtime registered.")
            report["skipped"][name] = "not registered with the Docker engine"
            continue
        # gVisor starts several times slower: half the samples keep the whole bench to
        # about three minutes on two cores when it follows runc.
        if runtime == "all" and name == "runsc":
            runs, concurrency = _half(runs), _half(concurrency)
        report["runtimes"][name] = measure(
            name, runs=runs, concurrency=concurrency, progress=progress
        )
    return report


def _half(count: int) -> int:
    return max(1, (count + 1) // 2)


def machine() -> dict:
    info = docker_client().info()
    return {
        "image": configured_image(),
        "docker": info.get("ServerVersion", ""),
        "kernel": info.get("KernelVersion", ""),
        "cpus": info.get("NCPU", 0),
        "memory_mb": round(info.get("MemTotal", 0) / MIB),
    }


def measure(runtime: str, *, runs: int, concurrency: int, progress: Progress) -> dict:
    # Sessions start cold unless a step asks for the pool: nothing starts behind its back.
    with override_settings(TURNBOX_SANDBOX_POOL_SIZE=0):
        progress(f"{runtime}: the floor (docker run)")
        report = {"runs": runs, "floor": _floor(runtime, runs)}
        progress(f"{runtime}: cold starts")
        report["cold_start"] = summary(cold_starts(runtime, runs))
        report["vs_floor"] = bench_floor.ratios(report["cold_start"]["p50_ms"], report["floor"])
        progress(f"{runtime}: warm pool")
        report["warm_first_output"] = summary(warm_first_outputs(runtime, runs))
        progress(f"{runtime}: round trips, streaming and time limits")
        with open_session(purpose=PURPOSE, runtime=runtime) as session:
            report.update(in_one_session(session, runs))
        progress(f"{runtime}: output throughput")
        report["output_throughput"] = _throughput(runtime)
        progress(f"{runtime}: up to {concurrency} sessions at once")
        report["concurrency"] = hold_sessions(runtime, concurrency)
    return report


def _floor(runtime: str, runs: int) -> dict:
    try:
        return bench_floor.floors(image=configured_image(), runtime=runtime, runs=runs)
    except (bench_floor.FloorUnavailable, OSError, subprocess.SubprocessError) as error:
        return {"unavailable": str(error)}


def _throughput(runtime: str) -> dict:
    room = bench_floor.THROUGHPUT_BYTES + MIB
    with open_session(purpose=PURPOSE, runtime=runtime, max_output=room) as session:
        try:
            return bench_floor.throughput(session)
        except RuntimeError as error:
            raise BenchError(f"Output throughput: {error}.") from None


# --- Starting ---------------------------------------------------------------------------


def cold_starts(runtime: str, runs: int) -> list[float]:
    """Container creation to kernel ready, as a session without a pool waits for it."""
    samples = []
    for _ in range(runs):
        started = time.monotonic()
        sandbox = start_sandbox(Spec.default(runtime=runtime))
        samples.append(_since(started))
        sandbox.destroy()
    return samples


def warm_first_outputs(runtime: str, runs: int) -> list[float]:
    """A session opened on a pooled sandbox, to its first output: what a turn waits for."""
    # Session.open takes its sandbox from this process's pool, whose spec comes from the
    # settings: a pool of one for this runtime, made afresh and drained afterwards.
    with override_settings(TURNBOX_SANDBOX_POOL_SIZE=1, TURNBOX_SANDBOX_RUNTIME=runtime):
        pool.shutdown()
        warm = pool.start()
        try:
            return [_warm_first_output(warm, runtime) for _ in range(runs)]
        finally:
            pool.shutdown()


def _warm_first_output(warm: pool.WarmPool, runtime: str) -> float:
    if not warm.wait_full(POOL_FILL_SECONDS):
        raise BenchError(f"The warm pool did not fill within {POOL_FILL_SECONDS} s.")
    started = time.monotonic()
    with open_session(purpose=PURPOSE, runtime=runtime) as session:
        return first_event(session.python("print(1)"), "stdout", started)


# --- One session ------------------------------------------------------------------------


def in_one_session(session: Session, runs: int) -> dict:
    for _ in range(WARM_UP_RUNS):
        _run_ok(session.python("1+1"))
    trips = runs * ROUND_TRIPS_PER_RUN
    loops = min(runs, MAX_LOOP_RUNS)
    return {
        "round_trip": summary([_round_trip(session) for _ in range(trips)]),
        "round_trip_frozen": summary([_frozen_round_trip(session) for _ in range(runs)]),
        "bridge_round_trip": summary([bridge_round_trip(session) for _ in range(trips)]),
        "first_stdout": summary(
            [first_event(session.python(LOOP), "stdout", time.monotonic()) for _ in range(loops)]
        ),
        "timeout_overshoot_ms": {
            name: overshoot(session, code) for name, code in OVER_THE_LIMIT.items()
        },
    }


def _round_trip(session: Session) -> float:
    started = time.monotonic()
    _run_ok(session.python("1+1"))
    return _since(started)


def _frozen_round_trip(session: Session) -> float:
    """1+1 once the sandbox has been idle long enough to be frozen: the thaw included."""
    deadline = time.monotonic() + BRIDGE_WAIT_SECONDS
    while not session.sandbox.frozen:
        if time.monotonic() > deadline:
            raise BenchError(f"The sandbox was not frozen within {BRIDGE_WAIT_SECONDS} s.")
        time.sleep(0.01)
    return _round_trip(session)


def bridge_round_trip(session: Session) -> float:
    """1+1 sent straight over the sandbox's channel, as the session sends it: the round
    trip without the session's bookkeeping (its two database writes), with the thaw
    before it and the freeze due after it, as in a session."""
    sandbox = session.sandbox
    channel = sandbox.channel
    request_id = uuid.uuid4().hex
    events = channel.listen(request_id)
    started = time.monotonic()
    try:
        sandbox.thaw()  # frozen since the session's last execution
        channel.send({"op": "python", "id": request_id, "code": "1+1", "max_output": 4096})
        event = {}
        while event.get("type") not in ("status", "closed"):
            event = events.get(timeout=BRIDGE_WAIT_SECONDS)
    except queue.Empty:
        raise BenchError(f"1+1 got no answer within {BRIDGE_WAIT_SECONDS} s.") from None
    finally:
        channel.unlisten(request_id)
        sandbox.freeze_soon()
    if event.get("status") != "ok":
        raise BenchError(f"1+1 over the bridge ended with {event}.")
    return _since(started)


def first_event(events: Iterator[dict], kind: str, started: float) -> float:
    """Time from started to the first event of this kind; the execution must end well."""
    first = None
    status = {}
    for event in events:
        if event["type"] == kind and first is None:
            first = _since(started)
        if event["type"] == "status":
            status = event
    _check(status)
    if first is None:
        raise BenchError(f"The execution printed no {kind}.")
    return first


def overshoot(session: Session, code: str) -> float:
    """How long past the time limit the caller waited for the status, by the caller's own
    clock from sending the code (the status's duration is capped at the limit)."""
    started = time.monotonic()
    status = run_to_end(session.python(code, timeout=TIME_LIMIT_SECONDS))
    waited = _since(started)
    if status.get("status") != "timeout":
        raise BenchError(f"{code!r} was expected to time out but ended with {status}.")
    return round(waited - TIME_LIMIT_SECONDS * 1000, 1)


# --- Many sessions ----------------------------------------------------------------------


def hold_sessions(runtime: str, count: int) -> dict:
    """Opens sessions one after another, all kept open, and sums their memory."""
    held = {"requested": count, "held": 0}
    with ExitStack() as stack:
        sessions = []
        for _ in range(count):
            try:
                session = stack.enter_context(open_session(purpose=PURPOSE, runtime=runtime))
            except SandboxUnavailable as error:
                # How many fit is the figure: the first refusal ends the count.
                held["stopped_by"] = str(error)
                break
            _run_ok(session.python("x = 1"))
            sessions.append(session)
        # An engine that reports no memory for a container gives no figure, not a zero.
        usages = [usage for session in sessions if (usage := memory_usage(session))]
    held["held"] = len(sessions)
    if usages:
        held["total_memory_mb"] = round(sum(usages) / MIB, 1)
        held["median_memory_mb"] = round(statistics.median(usages) / MIB, 1)
    return held


def memory_usage(session: Session) -> int:
    # one_shot: the current figures at once, without the second sample CPU figures need.
    stats = session.sandbox.container.stats(stream=False, one_shot=True)
    return int((stats.get("memory_stats") or {}).get("usage") or 0)


# --- Figures ----------------------------------------------------------------------------


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    if len(ordered) > 1:
        p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18]
    else:
        p95 = ordered[0]
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "n": len(ordered),
    }


def _run_ok(events: Iterator[dict]) -> None:
    _check(run_to_end(events))


def _check(status: dict) -> None:
    if status.get("status") != "ok":
        raise BenchError(f"An execution the bench relies on ended with {status}.")


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _quiet(text: str) -> None:
    pass


# --- The table --------------------------------------------------------------------------

LABELS = (
    "floor: docker run true",
    "floor: hardened print(1)",
    "cold start, p50 / p95",
    "  over the floors (p50)",
    "warm pool, to first output",
    "round trip of 1+1",
    "  once frozen (thaw included)",
    "  bridge only, no database",
    "first stdout of a loop",
    "sessions held at once",
    "memory of them all",
    "memory per session, median",
    "output, printed lines / one write",
    f"past a {TIME_LIMIT_SECONDS} s limit, busy loop",
    f"past a {TIME_LIMIT_SECONDS} s limit, sleep",
    "runs",
)
SUMMARIES = (
    "cold_start",
    "warm_first_output",
    "round_trip",
    "round_trip_frozen",
    "bridge_round_trip",
    "first_stdout",
)


def table(report: dict) -> str:
    """The report for people: one column per runtime."""
    runtimes = report["runtimes"]
    columns = [LABELS, *(_column(figures) for figures in runtimes.values())]
    rows = [("", *runtimes), *zip(*columns, strict=True)]
    return "\n".join([_heading(report["machine"]), "", *_aligned(rows), *_notes(report)])


def _column(figures: dict) -> list[str]:
    held, over = figures["concurrency"], figures["timeout_overshoot_ms"]
    floor, ratio, rate = figures["floor"], figures["vs_floor"], figures["output_throughput"]
    summaries = [_percentiles(figures[key]) for key in SUMMARIES]
    return [
        _ms(floor.get("docker_run_true_ms")),
        _ms(floor.get("hardened_print_ms")),
        summaries[0],
        " / ".join(f"{value:.2f}x" for value in ratio.values()) or "-",
        *summaries[1:],
        f"{held['held']} of {held['requested']}",
        _mib(held.get("total_memory_mb")),
        _mib(held.get("median_memory_mb")),
        f"{rate['lines_mb_per_s']:.1f} / {rate['bulk_mb_per_s']:.1f} MB/s",
        f"{over['busy_loop']:.1f} ms",
        f"{over['sleep']:.1f} ms",
        str(figures["runs"]),
    ]


def _heading(machine: dict) -> str:
    return (
        f"Sandbox bench: image {machine['image']}, Docker {machine['docker']}, "
        f"{machine['cpus']} CPUs, {machine['memory_mb'] / 1024:.1f} GiB"
    )


def _notes(report: dict) -> list[str]:
    notes = [f"{name}: skipped, {why}." for name, why in report["skipped"].items()]
    for name, figures in report["runtimes"].items():
        if why := figures["floor"].get("unavailable"):
            notes.append(f"{name}: no floor measured: {why}")
        if stopped := figures["concurrency"].get("stopped_by"):
            notes.append(f"{name}: stopped opening sessions: {stopped}")
    return ["", *notes] if notes else []


def _aligned(rows: list[tuple]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _percentiles(figures: dict) -> str:
    return f"{figures['p50_ms']:.1f} / {figures['p95_ms']:.1f} ms"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} MiB"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
