"""What the machine itself allows, measured in the same run as the bench's figures.

The floors are what a container costs before the sandbox adds anything: `docker run --rm
IMAGE true` through the docker command line, and the same with the sandbox's hardening
running `python3 -c "print(1)"`. The bench puts each cold start beside them as a ratio, so
a figure says how far it is from what this machine can do, not only how long it took.
Output throughput is the bytes that reach the caller per second of execution, measured
by the caller's clock from the request to the status.
"""

import shutil
import statistics
import subprocess
import time

from sandbox.session import Session

FLOOR_TIMEOUT_SECONDS = 60
HARDENING = (
    "--network", "none", "--read-only", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--user", "1000:1000",
    "--memory", "512m", "--pids-limit", "128",
)  # fmt: skip
MIB = 1024 * 1024
# Enough output that the fixed cost of an execution does not dominate the rate. Printing
# costs the code itself about a microsecond a line, so the lines are fewer.
LINES_BYTES = 2 * MIB
THROUGHPUT_BYTES = 16 * MIB
THROUGHPUT_CODE = {
    # Many short writes, as a loop that prints does: lines of 8 bytes.
    "lines": (LINES_BYTES, f"for i in range({LINES_BYTES // 8}):\n    print('%7d' % i)"),
    # One write of it all.
    "bulk": (THROUGHPUT_BYTES, f"import sys\nsys.stdout.write('x' * {THROUGHPUT_BYTES})"),
}
THROUGHPUT_TIMEOUT_SECONDS = 120


class FloorUnavailable(RuntimeError):
    """The docker command line is missing or the engine refused the plain container."""


def floors(*, image: str, runtime: str, runs: int) -> dict:
    """Medians of the plain and the hardened `docker run`, in ms."""
    docker = shutil.which("docker")
    if docker is None:
        raise FloorUnavailable("no docker command line on PATH")
    plain = [docker, "run", "--rm", "--runtime", runtime, "--network", "none", image, "true"]
    hardened = [docker, "run", "--rm", "--runtime", runtime, *HARDENING, image]
    hardened += ["python3", "-c", "print(1)"]
    return {
        "docker_run_true_ms": _median_ms(plain, runs),
        "hardened_print_ms": _median_ms(hardened, runs),
    }


def _median_ms(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - our own arguments, no shell
            command, capture_output=True, timeout=FLOOR_TIMEOUT_SECONDS, check=False
        )
        if done.returncode != 0:
            raise FloorUnavailable(done.stderr.decode(errors="replace").strip()[-300:])
        samples.append((time.monotonic() - started) * 1000)
    return round(statistics.median(samples), 1)


def ratios(cold_start_p50_ms: float, floor: dict) -> dict:
    """The cold start as a multiple of each floor."""
    return {
        f"cold_start_over_{name.removesuffix('_ms')}": round(cold_start_p50_ms / value, 2)
        for name, value in floor.items()
        if value
    }


def throughput(session: Session) -> dict:
    """MB/s of stdout that reaches the caller, for many short writes and one long one.
    The session must allow THROUGHPUT_BYTES of output (open it with max_output)."""
    figures = {}
    for name, (size, code) in THROUGHPUT_CODE.items():
        started = time.monotonic()
        received = 0
        status = {}
        for event in session.python(code, timeout=THROUGHPUT_TIMEOUT_SECONDS):
            if event["type"] == "stdout":
                received += len(event["text"].encode())
            elif event["type"] == "status":
                status = event
        seconds = time.monotonic() - started
        if status.get("status") != "ok" or received < size:
            raise RuntimeError(f"the {name} output ended with {status} after {received} bytes")
        figures[f"{name}_mb_per_s"] = round(received / MIB / seconds, 1)
    return figures
