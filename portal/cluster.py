"""cluster_bench's cluster: the production topology as processes on this host.

Two Daphne processes and two Celery workers share a PostgreSQL database of their own (made
on the server the bench is pointed at, dropped afterwards), a Redis server the bench runs
itself (so that it can restart it), a throw-away data folder and this host's Docker engine.
Each process is the leader of its own process group, so that a worker can be killed whole
(the main process and its pool) as a host dying would be. The scenarios are in
portal/cluster_load.py.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings

MARKER = ".cluster-bench"
START_SECONDS = 90
WORKER_CONCURRENCY = 5
# The reaper is what ends the turns of a dead worker: every few seconds, not every five
# minutes, bounds how long their browsers wait (TURNBOX_SANDBOX_REAP_INTERVAL_SECONDS).
REAP_SECONDS = 5


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    port: int | None = None

    def group_pids(self) -> set[int]:
        """Every live process of its group: a Celery worker's pool children too."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.popen.pid:
                        pids.add(int(entry.name))
                except OSError:
                    continue
        return pids

    def kill(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, seconds: float = 30) -> None:
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Cluster:
    postgres_url: str
    redis_server: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="turnbox-cl-")))
    processes: list[Process] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.database = f"turnbox_cluster_{uuid.uuid4().hex[:10]}"
        self.redis_port = free_port()
        (self.workdir / "data").mkdir()
        (self.workdir / "data" / MARKER).touch()
        (self.workdir / "redis").mkdir()
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNBOX_", "CELERY"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=_with_database(self.postgres_url, self.database),
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            TURNBOX_DATA_DIR=str(self.workdir / "data"),
            SECRET_KEY=secrets.token_urlsafe(50),
            TURNBOX_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            TURNBOX_TURN_RUNNER="celery",
            TURNBOX_SANDBOX_POOL_SIZE="1",
            TURNBOX_SANDBOX_REAP_INTERVAL_SECONDS=str(REAP_SECONDS),
            TURNBOX_MAX_RUNNING_TURNS_PER_USER="2",
        )
        return env

    # --- Servers ---------------------------------------------------------------------------

    def create_database(self) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def drop_database(self) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def start_redis(self) -> None:
        command = [self.redis_server, "--bind", "127.0.0.1", "--port", str(self.redis_port)]
        command += ["--dir", str(self.workdir / "redis"), "--save", "", "--appendonly", "no"]
        self._spawn("redis", command, port=self.redis_port)

    def restart_redis(self, down_seconds: float) -> None:
        """Redis goes away (and its data with it) and comes back on the same port."""
        redis = self.process("redis")
        redis.kill()
        self.processes.remove(redis)
        time.sleep(down_seconds)
        self.start_redis()

    def manage(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
            env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            raise ClusterError(f"manage.py {args[0]} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def start_web(self, name: str) -> Process:
        port = free_port()
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        return self._spawn(name, [*command, "config.asgi:application"], port=port)

    def start_worker(self, name: str) -> Process:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"]
        command += ["--concurrency", str(WORKER_CONCURRENCY), "--hostname", f"{name}@%h"]
        process = self._spawn(name, command)
        self._wait_log(process, "ready.")
        return process

    def _spawn(self, name: str, command: list[str], *, port: int | None = None) -> Process:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (the process keeps it)
        popen = subprocess.Popen(  # noqa: S603
            command, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        process = Process(name, popen, port)
        self.processes.append(process)
        if port:
            _wait_listening(process, self.workdir / f"{name}.log")
        return process

    def _wait_log(self, process: Process, text: str) -> None:
        path = self.workdir / f"{process.name}.log"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise ClusterError(f"{process.name} exited:\n{path.read_text()[-2000:]}")
            if text in path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise ClusterError(f"{process.name} was not ready within {START_SECONDS} s.")

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def remember_pids(self) -> None:
        """Sandboxes name their owner process: orphans are found by these pids later."""
        for process in self.processes:
            self.seen_pids |= process.group_pids()

    def close(self, *, keep_logs: Path | None = None) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if keep_logs is not None and self.workdir.exists():
            keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.workdir.glob("*.log"):
                shutil.copy(log, keep_logs / log.name)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _wait_listening(process: Process, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise ClusterError(f"{process.name} exited:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", process.port)) == 0:
                return
        time.sleep(0.1)
    raise ClusterError(f"{process.name} did not listen within {START_SECONDS} s.")


def sandbox_containers_of(pids: set[int]) -> list[str]:
    """Sandbox containers on this engine whose owner is one of ``pids`` on this host."""
    import docker

    from sandbox.containers import LABEL, OWNER_LABEL

    host = socket.gethostname()
    client = docker.from_env()
    try:
        found = []
        # Summaries, not one inspect each: containers come and go while this reads.
        for container in client.api.containers(all=True, filters={"label": LABEL}):
            owner = (container.get("Labels") or {}).get(OWNER_LABEL, "")
            name, _, rest = owner.partition("/")
            pid = rest.partition("/")[0]
            if name == host and pid.isdigit() and int(pid) in pids:
                found.append(container["Names"][0].lstrip("/"))
        return found
    finally:
        client.close()


def remove_containers(names: list[str]) -> None:
    """Removes sandbox containers and their work volumes (named as the container)."""
    import docker

    client = docker.from_env()
    try:
        for name in names:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(name, force=True, v=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_volume(name, force=True)
    finally:
        client.close()
