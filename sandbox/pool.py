"""The warm pool: sandboxes started ahead of time, so a turn's first execution does not wait.

A pooled sandbox has its kernel running and has executed nothing of anyone's: only a
silent warm-up statement of its own (``None``, kept in no history), since a kernel's
first execution is slower than the next ones and a turn would wait for that. It serves
exactly one session and is destroyed with it, never reused. One pool per process for the
default spec, and a second one for network-enabled sandboxes of the default limits, made
the first time the process opens such a session (their network and proxy address are
ready; the session's policy is handed to the proxy when it takes one). A session that
asks for other limits starts its sandbox cold. The default pool's thread also runs the
reaper now and then, and the pools are drained at exit.
"""

import atexit
import logging
import queue
import threading
import time
import uuid
from collections import deque

from django.conf import settings
from django.db import connections

from sandbox import reaper
from sandbox.containers import (
    Sandbox,
    SandboxUnavailable,
    Spec,
    network_refused,
    network_runtime,
    start_sandbox,
)

logger = logging.getLogger(__name__)

RETRY_SECONDS = 10
HEALTH_SECONDS = 5
WARM_UP_SECONDS = 10


class WarmPool:
    def __init__(self, spec: Spec, size: int, *, reaps: bool = True):
        self.spec = spec
        self.size = size
        self.reaps = reaps
        self._ready: deque[Sandbox] = deque()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._next_reap = 0.0

    def start(self) -> None:
        with self._changed:
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="sandbox-pool", daemon=True)
                self._thread.start()

    def acquire(self) -> Sandbox | None:
        """A ready sandbox, now, or None (the caller then starts one cold)."""
        dead = []
        try:
            with self._changed:
                while self._ready:
                    sandbox = self._ready.popleft()
                    self._changed.notify_all()
                    if sandbox.alive():
                        return sandbox
                    dead.append(sandbox)
            return None
        finally:
            for sandbox in dead:
                sandbox.destroy()

    def ready_count(self) -> int:
        with self._changed:
            return len(self._ready)

    def waiting(self) -> list[str]:
        """The names of the sandboxes waiting to be taken."""
        with self._changed:
            return [sandbox.name for sandbox in self._ready]

    def wait_full(self, timeout: float) -> bool:
        """For start-up and benchmarks: wait until every slot holds a ready sandbox."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._ready) < self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def drain(self) -> None:
        """Stops refilling and destroys every waiting sandbox."""
        with self._changed:
            self._stopped = True
            waiting = list(self._ready)
            self._ready.clear()
            self._changed.notify_all()
        for sandbox in waiting:
            sandbox.destroy()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    # -- the refill thread -------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopped:
            self._maybe_reap()
            if self._missing():
                self._add_one()
            else:
                self._idle()

    def _missing(self) -> bool:
        with self._changed:
            return len(self._ready) < self.size

    def _add_one(self) -> None:
        try:
            sandbox = start_sandbox(self.spec)
            warm_up(sandbox)
        except SandboxUnavailable as exc:
            logger.warning("Warm pool: %s; retrying in %s s.", exc, RETRY_SECONDS)
            with self._changed:
                self._changed.wait(RETRY_SECONDS)
            return
        with self._changed:
            if not self._stopped:
                self._ready.append(sandbox)
                self._changed.notify_all()
                return
        sandbox.destroy()

    def _idle(self) -> None:
        with self._changed:
            self._changed.wait(HEALTH_SECONDS)
            dead = [sandbox for sandbox in self._ready if not sandbox.alive()]
            for sandbox in dead:
                self._ready.remove(sandbox)
        for sandbox in dead:
            sandbox.destroy()

    def _maybe_reap(self) -> None:
        if not self.reaps or time.monotonic() < self._next_reap:
            return
        self._next_reap = time.monotonic() + settings.TURNBOX_SANDBOX_REAP_INTERVAL_SECONDS
        try:
            reaper.reap()
        except Exception:
            logger.exception("The sandbox reaper failed; it runs again later.")
        finally:
            # Minutes pass until the next reap: no connection is kept open (or goes stale).
            connections.close_all()


_pool: WarmPool | None = None
_egress_pool: WarmPool | None = None
_pool_lock = threading.Lock()


def warm_up(sandbox: Sandbox) -> None:
    """Runs the kernel's first, slower execution while nobody waits: a silent ``None``,
    which leaves nothing behind (not in ``In``, not in ``_``). A sandbox that cannot is
    not pooled."""
    request_id = uuid.uuid4().hex
    events = sandbox.channel.listen(request_id)
    try:
        warm = {
            "op": "python",
            "id": request_id,
            "code": "None",
            "max_output": 1024,
            "silent": True,
        }
        sandbox.channel.send(warm)
        deadline = time.monotonic() + WARM_UP_SECONDS
        event: dict = {}
        while event.get("type") not in ("status", "closed"):
            event = events.get(timeout=max(deadline - time.monotonic(), 0))
    except (queue.Empty, OSError) as exc:
        sandbox.destroy()
        raise SandboxUnavailable(f"a new sandbox did not run its warm-up ({exc!r})") from exc
    finally:
        sandbox.channel.unlisten(request_id)
    if event.get("status") != "ok":
        sandbox.destroy()
        raise SandboxUnavailable(f"a new sandbox's warm-up ended with {event.get('status')}")


def warm_pool() -> WarmPool | None:
    """This process's pool, created on first use; None when the pool is switched off."""
    global _pool
    if settings.TURNBOX_SANDBOX_POOL_SIZE <= 0:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = WarmPool(Spec.default(), settings.TURNBOX_SANDBOX_POOL_SIZE)
            atexit.register(_pool.drain)
        return _pool


def egress_pool() -> WarmPool | None:
    """The pool of network-enabled sandboxes, created on first use; None when it or the
    warm pool as a whole is switched off, or when network sessions would run under gVisor
    on an engine without its networked registration (which Session.open refuses)."""
    global _egress_pool
    size = settings.TURNBOX_EGRESS_POOL_SIZE
    if settings.TURNBOX_SANDBOX_POOL_SIZE <= 0 or size <= 0 or network_refused(network_runtime()):
        return None
    with _pool_lock:
        if _egress_pool is None:
            spec = Spec.default(runtime=network_runtime(), egress=True)
            _egress_pool = WarmPool(spec, size, reaps=False)
            atexit.register(_egress_pool.drain)
        return _egress_pool


def start() -> WarmPool | None:
    """Starts filling the pool in the background (server and worker start-up)."""
    pool = warm_pool()
    if pool is not None:
        pool.start()
    return pool


def acquire(spec: Spec) -> Sandbox | None:
    pool = egress_pool() if spec.egress else warm_pool()
    if pool is None or pool.spec.container_key != spec.container_key:
        return None
    pool.start()
    return pool.acquire()


def shutdown() -> None:
    global _pool, _egress_pool
    with _pool_lock:
        pools, _pool, _egress_pool = (_pool, _egress_pool), None, None
    for pool in pools:
        if pool is not None:
            pool.drain()
