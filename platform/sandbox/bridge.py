"""The sandbox's main process: runs the code the host sends and streams what happens.

It speaks JSON lines over the container's attached stdio (requests on stdin, events on
stdout), the one channel that works under runc, under gVisor and with a remote Docker
host. Python runs in a real ipykernel, reached over ZMQ on the container's loopback;
shell commands run in their own process group. The host trusts none of this: it keeps
its own clock, output caps and kill switch, because the code in here is hostile.

Requests: {"op": "python"|"shell", "id", "code", "max_output"} (Python may add "silent":
          true, run without a trace in its history), {"op": "interrupt"|"kill"},
          {"op": "freeze", "id"} and {"op": "thaw"} between executions.
Events:   {"type": "ready"|"kernel_restarted"} and, per request id, "stdout", "stderr",
          "display", "result", "error", then one "status"; "frozen" answers a freeze.
"""

import asyncio
import codecs
import contextlib
import ctypes
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time

# jupyter_client is imported only once the kernel process is on its way (see Kernel.launch):
# both take a while to load, and a turn waits for them.

WORKDIR = os.environ.get("TURNBOX_WORKDIR", "/workspace")
# Rich output the host knows how to show; everything else is dropped at the source.
KEPT_MIMETYPES = ("image/png", "image/jpeg", "image/svg+xml", "text/html", "text/plain")
KERNEL_ARGS = [
    "--HistoryManager.enabled=False",
    "--InteractiveShell.colors=nocolor",
    "--IPKernelApp.quiet=False",
]
SHELL_DRAIN_SECONDS = 0.1
KILL_ROUNDS = 100
RUNTIME_DIR = os.environ.get("JUPYTER_RUNTIME_DIR", "/tmp")  # noqa: S108 - the sandbox's own
KERNEL_CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
KERNEL_START_SECONDS = 60
HANDSHAKE_STEP_SECONDS = 0.05

# The kernel starts through this instead of `-m ipykernel_launcher`. ipykernel asks the
# system for its pid on every write to sys.stdout, to tell forked children apart; under
# gVisor a system call costs ~20 us rather than ~0.2, which made 200,000 prints take
# seconds longer. The pid is kept instead, and renewed in every forked child.
KERNEL_BOOT = """
import os, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
from ipykernel import iostream, kernelapp
pid = os.getpid()
def renew():
    global pid
    pid = os.getpid()
os.register_at_fork(after_in_child=renew)
iostream.OutStream._is_master_process = lambda stream: pid == stream._master_pid
kernelapp.launch_new_instance()
"""

OUT_FD = 1


def emit(event):
    write_all(OUT_FD, json.dumps(event, separators=(",", ":")).encode() + b"\n")


def write_all(fd, data):
    """Writes every byte. A single write() may take only part of it: under gVisor one
    call to the host's pipe takes at most 64 KiB, and what a plain write left over was
    lost, cutting the event in two (and every event after it, up to the next newline)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def oom_kills():
    """How many processes the memory cgroup has killed so far (v1 or v2), or None."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return None


class OutputBudget:
    """Stops forwarding text once a request has printed max_output bytes."""

    def __init__(self, limit):
        self.limit = limit
        self.used = 0
        self.dropped = 0

    def take(self, text):
        size = len(text.encode("utf-8", "replace"))
        if self.used + size <= self.limit:
            self.used += size
            return text
        room = max(self.limit - self.used, 0)
        kept = text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
        self.used += len(kept.encode())
        self.dropped += size - len(kept.encode())
        return kept


class ShellProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Tells when the command itself exits. Process.wait() also waits for the pipes to
    close, which a background job (`server &`) may hold open for ever."""

    def __init__(self):
        loop = asyncio.get_running_loop()
        super().__init__(limit=1 << 16, loop=loop)
        self.exited = loop.create_future()

    def process_exited(self):
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


class Kernel:
    """One ipykernel and the tasks that read it. Messages are routed by the request
    they answer; a dead kernel sends None to every waiting request."""

    def __init__(self):
        self.process = None
        self.kc = None
        self.routes = {}
        self.tasks = []
        self.dead = False
        self.launches = 0

    def launch(self):
        """Starts the kernel process. Plain Popen, no KernelManager: looking up kernel
        specs and provisioners costs more start-up time than the launch itself."""
        self.launches += 1
        os.makedirs(RUNTIME_DIR, mode=0o700, exist_ok=True)
        path = os.path.join(RUNTIME_DIR, f"kernel-{self.launches}.json")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(connection_info(), f)
        self.connection_file = path
        # Its own session, so that killing its group takes whatever the code started; its
        # stdio goes nowhere, since ours is the event channel.
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", KERNEL_BOOT, "-f", path, *KERNEL_ARGS],
            cwd=WORKDIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def connect(self):
        from jupyter_client.asynchronous import AsyncKernelClient  # late: see the imports

        self.kc = AsyncKernelClient(connection_file=self.connection_file)
        self.kc.load_connection_file()
        self.kc.start_channels(hb=False)  # the process itself is watched: see watch()
        await self.handshake()
        self.dead = False
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self.read_iopub()),
            loop.create_task(self.drain_shell()),
            loop.create_task(self.watch()),
        ]

    async def handshake(self):
        """Waits until the kernel answers on iopub. The client's own wait_for_ready
        polls a heartbeat in 0.2 s steps and then listens for 0.2 s of silence."""
        deadline = time.monotonic() + KERNEL_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the kernel exited while starting ({self.process.poll()})")
            msg_id = self.kc.kernel_info()
            with contextlib.suppress(TimeoutError):
                # Every request gets a status on iopub: one proves the subscription is live.
                await asyncio.wait_for(self.iopub_answer(msg_id), HANDSHAKE_STEP_SECONDS)
                return
        raise RuntimeError(f"the kernel did not answer within {KERNEL_START_SECONDS} s")

    async def iopub_answer(self, msg_id):
        socket, session = self.kc.iopub_channel.socket, self.kc.session
        while True:
            _, parts = session.feed_identities(await socket.recv_multipart())
            if session.deserialize(parts)["parent_header"].get("msg_id") == msg_id:
                return

    def interrupt(self):
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)

    def execute(self, code, silent=False):
        """Sends code to run; returns the queue its messages will arrive on. Silent code
        (the warm pool's warm-up) leaves no trace in the history (``In``, ``_``)."""
        messages = asyncio.Queue()
        if self.dead:
            messages.put_nowait(None)
            return None, messages
        msg_id = self.kc.execute(
            code, silent=silent, store_history=not silent, allow_stdin=False, stop_on_error=False
        )
        # No await since the send: the reader cannot have seen a reply yet.
        self.routes[msg_id] = messages
        return msg_id, messages

    async def read_iopub(self):
        # Straight off the socket: the channel's get_msg polls with a timeout per call.
        socket, session = self.kc.iopub_channel.socket, self.kc.session
        while True:
            _, parts = session.feed_identities(await socket.recv_multipart())
            message = session.deserialize(parts)
            route = self.routes.get(message["parent_header"].get("msg_id"))
            if route is not None:
                route.put_nowait(message)

    async def drain_shell(self):
        # Replies duplicate what iopub said; read them so they do not pile up.
        socket = self.kc.shell_channel.socket
        while True:
            await socket.recv_multipart()

    async def watch(self):
        await asyncio.get_running_loop().run_in_executor(None, self.process.wait)
        self.dead = True
        for route in self.routes.values():
            route.put_nowait(None)

    def exit_code(self):
        return self.process.poll()

    def kill(self):
        # The kernel leads its own process group: its children die with it.
        kill_group(self.process.pid)

    async def restart(self):
        self.kill()
        for task in self.tasks:
            task.cancel()
        # A dead kernel's leftovers must not stop a new one.
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        self.process.wait()
        self.routes.clear()
        self.launch()
        await self.connect()
        emit({"type": "kernel_restarted"})


def rich(data):
    return {k: v for k, v in data.items() if k in KEPT_MIMETYPES}


class Bridge:
    def __init__(self, kernel):
        self.kernel = kernel
        self.kernel_ready = asyncio.Event()
        self.current = None  # (request, task, process-or-None)
        self.queue = asyncio.Queue()

    async def serve(self):
        await self.kernel.connect()
        self.kernel_ready.set()
        emit({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
        asyncio.get_running_loop().create_task(self.worker())
        reader = await self.stdin_reader()
        while line := await reader.readline():
            try:
                request = json.loads(line)
            except ValueError:
                continue
            self.dispatch(request)
        # The host went away: nothing left to serve.
        self.kernel.kill()

    async def stdin_reader(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        return reader

    def dispatch(self, request):
        op = request.get("op")
        if op in ("python", "shell"):
            self.queue.put_nowait(request)
        elif op == "interrupt" and self.current:
            self.interrupt(hard=False)
        elif op == "kill" and self.current:
            self.interrupt(hard=True)
        elif op == "freeze":
            asyncio.get_running_loop().create_task(self.freeze(request))
        elif op == "thaw":
            signal_all(signal.SIGCONT)

    async def freeze(self, request):
        """Between executions nothing else runs: every process but this one (a kernel
        thread, a nohup loop) is stopped until the next "thaw". A kernel restart that is
        under way finishes first: it is ours, not the code's."""
        await self.kernel_ready.wait()
        signal_all(signal.SIGSTOP)
        emit({"id": request["id"], "type": "frozen"})

    def interrupt(self, hard):
        _, task, process = self.current
        if process is not None:
            # A shell command's whole process group goes, whatever it started.
            kill_group(process.pid)
        elif hard:
            if self.kernel_ready.is_set():
                self.kernel.kill()
            task.cancel()
        else:
            self.kernel.interrupt()

    async def worker(self):
        while True:
            request = await self.queue.get()
            run = self.run_python if request["op"] == "python" else self.run_shell
            budget = OutputBudget(int(request.get("max_output", 1 << 20)))
            task = asyncio.get_running_loop().create_task(run(request, budget))
            self.current = (request, task, None)
            try:
                status = await task
            except asyncio.CancelledError:
                # A hard stop: it killed the kernel, unless that was still starting.
                lost = self.kernel_ready.is_set()
                status = {"status": "killed", "reason": "stopped", "kernel_lost": lost}
            except OSError as exc:
                # Typically no process can be started: the process limit is reached.
                status = {"status": "error", "reason": "start", "detail": str(exc)}
            self.current = None
            status.update(id=request["id"], type="status", dropped_bytes=budget.dropped)
            emit(status)
            if status.get("kernel_lost"):
                # In the background: shell commands need no kernel, and Python requests
                # wait for kernel_ready (the host does not count that wait).
                self.kernel_ready.clear()
                asyncio.get_running_loop().create_task(self.restart_kernel())

    async def restart_kernel(self):
        try:
            await self.kernel.restart()
        except Exception as exc:  # whatever it is, this sandbox is done
            sys.stderr.write(f"cannot restart the kernel: {exc}\n")
            sys.stderr.flush()
            os._exit(1)  # The host sees the sandbox stop and starts a new one.
        self.kernel_ready.set()

    async def run_python(self, request, budget):
        await self.kernel_ready.wait()
        kills_before = oom_kills()
        msg_id, messages = self.kernel.execute(request["code"], request.get("silent") is True)
        status = "ok"
        try:
            while (message := await messages.get()) is not None:
                kind, content = message["msg_type"], message["content"]
                if kind == "status" and content["execution_state"] == "idle":
                    return {"status": status}
                if kind == "error":
                    status = "error"
                self.forward(request["id"], kind, content, budget)
        finally:
            self.kernel.routes.pop(msg_id, None)
        return self.kernel_lost(kills_before)

    def kernel_lost(self, kills_before):
        kills_after = oom_kills()
        oom = kills_before is not None and kills_after is not None and kills_after > kills_before
        return {
            "status": "killed",
            "reason": "oom" if oom else "died",
            "exit_code": self.kernel.exit_code(),
            "kernel_lost": True,
        }

    def forward(self, rid, kind, content, budget):
        if kind == "stream":
            text = budget.take(content["text"])
            if text:
                emit({"id": rid, "type": content["name"], "text": text})
        elif kind in ("display_data", "update_display_data"):
            emit({"id": rid, "type": "display", "data": rich(content["data"])})
        elif kind == "execute_result":
            emit({"id": rid, "type": "result", "data": rich(content["data"])})
        elif kind == "error":
            emit(
                {
                    "id": rid,
                    "type": "error",
                    "ename": content["ename"],
                    "evalue": content["evalue"],
                    "traceback": content["traceback"],
                }
            )

    async def run_shell(self, request, budget):
        kills_before = oom_kills()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            ShellProtocol,
            "/bin/bash",
            "-c",
            request["code"],
            cwd=WORKDIR,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process = asyncio.subprocess.Process(transport, protocol, loop)
        self.current = (request, self.current[1], process)
        pumps = [
            asyncio.ensure_future(self.pump(request["id"], name, stream, budget))
            for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))
        ]
        try:
            await protocol.exited
            # Background jobs may hold the pipes open for ever: read what is there, then stop.
            await asyncio.wait(pumps, timeout=SHELL_DRAIN_SECONDS)
        finally:
            for pump in pumps:
                pump.cancel()
            transport.close()
        code = transport.get_returncode()
        if code < 0:
            oom = kills_before is not None and (oom_kills() or 0) > kills_before
            return {"status": "killed", "exit_code": code, "reason": "oom" if oom else "signal"}
        return {"status": "ok" if code == 0 else "error", "exit_code": code}

    async def pump(self, rid, name, stream, budget):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := await stream.read(65536):
            text = budget.take(decoder.decode(chunk))
            if text:
                emit({"id": rid, "type": name, "text": text})


def signal_all(signum):
    """Sends every process of the sandbox but this one and tini (pid 1) SIGCONT, or
    SIGSTOP until none is left running: one caught mid-fork can add a child after a
    round. SIGSTOP cannot be caught, and a stopped process cannot send the SIGCONT that
    would free it or another. (Not kill(-1): under gVisor it upsets the sandbox.)"""
    for _ in range(KILL_ROUNDS):
        targets = [
            pid for pid, state in processes() if signum == signal.SIGCONT or state not in "TtZX"
        ]
        for pid in targets:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        if signum == signal.SIGCONT or not targets:
            return
        time.sleep(0.001)


def processes():
    """(pid, state) of the sandbox's processes but this one and pid 1."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in (1, os.getpid()):
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                found.append((int(entry.name), f.read().rsplit(")", 1)[1].split()[0]))
        except (OSError, IndexError):
            continue
    return found


def kill_group(pgid):
    """SIGKILLs a process group until it is empty: members caught mid-fork (a fork
    bomb) can add a child after one round of signals."""
    for _ in range(KILL_ROUNDS):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not group_alive(pgid):
            return
        time.sleep(0.005)


def group_alive(pgid):
    """Whether a process group has members that are not zombies yet."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def connection_info():
    """Where the kernel listens: free ports on the container's loopback, a fresh key."""
    listeners = [socket.socket() for _ in KERNEL_CHANNELS]
    try:
        for listener in listeners:
            listener.bind(("127.0.0.1", 0))
        ports = {
            f"{name}_port": s.getsockname()[1]
            for name, s in zip(KERNEL_CHANNELS, listeners, strict=True)
        }
    finally:
        for listener in listeners:
            listener.close()
    return {
        **ports,
        "ip": "127.0.0.1",
        "transport": "tcp",
        "key": secrets.token_hex(32),
        "signature_scheme": "hmac-sha256",
        "kernel_name": "python3",
    }


def not_dumpable():
    """Keeps the code we run (same uid) out of /proc/<our pid>/fd, i.e. off our stdout."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def main():
    not_dumpable()
    os.makedirs(WORKDIR, exist_ok=True)
    started = time.monotonic()
    kernel = Kernel()
    kernel.launch()
    try:
        asyncio.run(Bridge(kernel).serve())
    except KeyboardInterrupt:
        pass
    finally:
        sys.stderr.write(f"bridge stopped after {time.monotonic() - started:.1f}s\n")


if __name__ == "__main__":
    main()
